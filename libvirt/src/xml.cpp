#include "netd/libvirt/xml.hpp"

#include <fmt/format.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <charconv>
#include <memory>

namespace netd::libvirt {
namespace {

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct XmlDocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
struct XPathContextFree {
  void operator()(xmlXPathContext* context) const { xmlXPathFreeContext(context); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObject* object) const { xmlXPathFreeObject(object); }
};
struct XmlCharFree {
  void operator()(xmlChar* text) const { xmlFree(text); }
};

// A parsed XML document and XPath queries on it.
class XmlDocument {
 public:
  explicit XmlDocument(std::string_view xml)
      : doc_(
            (Init(), xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "libvirt.xml", nullptr,
                                   XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING))),
        context_(doc_ ? xmlXPathNewContext(doc_.get()) : nullptr) {}
  bool ok() const { return context_ != nullptr; }

  // libxml2 2.9 does not set itself up safely on a first use from two threads at once.
  static void Init() {
    static const bool initialized = (xmlInitParser(), true);
    (void)initialized;
  }

  // The nodes `path` selects, relative to `node` (the document when null).
  std::vector<xmlNode*> Nodes(const char* path, xmlNode* node = nullptr) const {
    context_->node = node ? node : xmlDocGetRootElement(doc_.get());
    std::unique_ptr<xmlXPathObject, XPathObjectFree> result(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(path), context_.get()));
    std::vector<xmlNode*> nodes;
    if (!result || !result->nodesetval) return nodes;
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
      nodes.push_back(result->nodesetval->nodeTab[i]);
    }
    return nodes;
  }
  // The string value of the first node `path` selects; empty when none.
  std::string Text(const char* path, xmlNode* node = nullptr) const {
    auto nodes = Nodes(path, node);
    if (nodes.empty()) return {};
    std::unique_ptr<xmlChar, XmlCharFree> text(xmlNodeGetContent(nodes.front()));
    return text ? reinterpret_cast<const char*>(text.get()) : "";
  }

 private:
  std::unique_ptr<xmlDoc, XmlDocFree> doc_;
  std::unique_ptr<xmlXPathContext, XPathContextFree> context_;
};

}  // namespace

std::string LibvirtNetworkXml(const LibvirtNetworkSpec& spec, std::string_view uuid) {
  auto vlan = spec.tag_ports
                  ? fmt::format("\n    <vlan>\n      <tag id='{}'/>\n    </vlan>\n  ", spec.vlan)
                  : std::string();
  return fmt::format(
      "<network>\n"
      "  <name>{}</name>\n{}"
      "  <forward mode='bridge'/>\n"
      "  <bridge name='{}'/>\n"
      "  <virtualport type='openvswitch'/>\n"
      "  <portgroup name='vlan-{}' default='yes'>{}</portgroup>\n"
      "</network>\n",
      XmlEscape(spec.name), uuid.empty() ? "" : fmt::format("  <uuid>{}</uuid>\n", uuid),
      XmlEscape(spec.bridge), spec.vlan, vlan);
}

std::optional<LibvirtNetworkSpec> ParseLibvirtNetworkXml(std::string_view xml) {
  XmlDocument doc(xml);
  if (!doc.ok()) return std::nullopt;
  if (doc.Text("/network/forward/@mode") != "bridge" ||
      doc.Text("/network/virtualport/@type") != "openvswitch") {
    return std::nullopt;
  }
  auto groups = doc.Nodes("/network/portgroup[@default='yes']");
  if (groups.size() != 1) return std::nullopt;
  LibvirtNetworkSpec spec;
  spec.name = doc.Text("/network/name");
  spec.bridge = doc.Text("/network/bridge/@name");
  // A VLAN outside the portgroup, or a virtualport of its own, would change what VM ports get.
  if (!doc.Nodes("/network/vlan").empty() || !doc.Nodes("virtualport", groups.front()).empty()) {
    return std::nullopt;
  }
  auto group = doc.Text("@name", groups.front());
  if (!group.starts_with("vlan-")) return std::nullopt;
  const char* digits = group.data() + 5;
  const char* end = group.data() + group.size();
  auto [stop, error] = std::from_chars(digits, end, spec.vlan);
  if (error != std::errc() || stop != end || digits == end) return std::nullopt;
  auto tags = doc.Nodes("vlan/tag", groups.front());
  if (tags.size() > 1 || doc.Text("vlan/@trunk", groups.front()) == "yes") return std::nullopt;
  if (tags.size() == 1) {
    if (doc.Text("vlan/tag/@id", groups.front()) != std::to_string(spec.vlan)) return std::nullopt;
    spec.tag_ports = true;
  }
  return spec;
}

std::vector<DomainInterface> ParseDomainInterfaces(std::string_view xml) {
  XmlDocument doc(xml);
  std::vector<DomainInterface> interfaces;
  if (!doc.ok()) return interfaces;
  for (auto* node : doc.Nodes("/domain/devices/interface[@type='network' or @type='bridge']")) {
    interfaces.push_back({doc.Text("source/@network", node), doc.Text("source/@bridge", node),
                          doc.Text("mac/@address", node), doc.Text("target/@dev", node)});
  }
  return interfaces;
}

}  // namespace netd::libvirt
