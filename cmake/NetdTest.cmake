include(GoogleTest)

# One gtest binary. Labels: unit (pure logic: no root, no netd binary), api (a real netd on a
# private socket, in a network namespace of its own: root), kernel (root, private network
# namespaces, real OVS/dnsmasq/nftables). A library's own tests live in <lib>/tests/ and link
# only that library and its seams (docs/architecture.md, "Tests").
function(netd_add_test name label)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} PROPERTIES LABELS ${label} DISCOVERY_TIMEOUT 60)
endfunction()
