// What the report tests read HTML with (html_report_test.cc, decode_report_test.cc, train_report_test.cc): a
// strict tag-balance check, and the section, the chart or the count of a text in a document.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace tscale::report {

// A strict tag-balance parse: every element opened is closed in order (void elements and "/>" aside),
// attribute values are quoted, comments and doctype skipped, <style> read as raw text. Returns "" when
// the document is well formed, else what is wrong and where.
inline std::string WellFormedError(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    if (html.compare(i, 4, "<!--") == 0) {
      i = html.find("-->", i);
      if (i == std::string::npos) return "unterminated comment";
      continue;
    }
    if (html.compare(i, 2, "<!") == 0) {
      i = html.find('>', i);
      continue;
    }
    const size_t end = html.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = html.substr(i + 1, end - i - 1);
    // Quotes inside a tag must pair up, or an attribute value swallowed a '>'.
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return "unbalanced quotes in <" + tag + ">";
    const bool closing = !tag.empty() && tag[0] == '/';
    const bool self_closing = !tag.empty() && tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \n\t/"));
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + "> at " + std::to_string(i);
      open.pop_back();
    } else if (!self_closing && !kVoid.count(name)) {
      open.push_back(name);
      if (name == "style") {  // raw text up to its end tag
        const size_t close = html.find("</style>", end);
        if (close == std::string::npos) return "unterminated <style>";
        i = close;
        continue;
      }
    }
    i = end + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

// The <section id="id"> element's text, or "".
inline std::string SectionOf(const std::string& html, const std::string& id) {
  const size_t start = html.find("<section id=\"" + id + "\">");
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</section>", start) - start);
}

// The <svg> element whose title is `title`, or "".
inline std::string ChartTitled(const std::string& html, const std::string& title) {
  const size_t at = html.find("<title>" + title);
  if (at == std::string::npos) return "";
  const size_t start = html.rfind("<svg", at);
  return html.substr(start, html.find("</svg>", at) + 6 - start);
}

// How often `what` occurs in `text`, without overlaps.
inline size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace tscale::report
