// Text out of the formats documents come in.

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <memory>

#include "mq/core/utf8.hpp"
#include "mq/documents/text.hpp"

namespace mq::documents {
namespace {

void quiet(const std::string&, void*) {}  // poppler's complaints about damaged files

result<std::vector<page>> from_pdf(std::string_view bytes) {
  poppler::set_debug_error_function(quiet, nullptr);
  if (bytes.substr(0, 5) != "%PDF-") return make_error(errc::validation_failed, "the file is not a PDF");
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!doc) return make_error(errc::validation_failed, "the PDF could not be read");
  if (doc->is_locked()) return make_error(errc::validation_failed, "the PDF is encrypted");
  std::vector<page> pages;
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> p(doc->create_page(i));
    if (!p) continue;
    auto text = p->text().to_utf8();
    pages.push_back({i + 1, std::string(text.begin(), text.end())});
  }
  return pages;
}

}  // namespace

bool supported_type(std::string_view mime) {
  return mime == "text/plain" || mime == "text/markdown" || mime == "application/pdf";
}

result<std::vector<page>> extract(std::string_view bytes, std::string_view mime) {
  std::vector<page> pages;
  if (mime == "application/pdf") {
    auto r = from_pdf(bytes);
    if (!r) return r;
    pages = std::move(*r);
  } else if (mime == "text/plain" || mime == "text/markdown") {
    if (bytes.substr(0, 3) == "\xef\xbb\xbf") bytes.remove_prefix(3);  // a byte order mark
    if (!utf8::valid(bytes)) return make_error(errc::validation_failed, "the text is not UTF-8");
    pages.push_back({std::nullopt, std::string(bytes)});
  } else {
    return make_error(errc::unsupported_media_type, "documents must be text/plain, text/markdown or application/pdf");
  }
  bool any = false;
  for (auto& p : pages) {
    p.text = normalize(p.text);
    any = any || !p.text.empty();
  }
  if (!any) return make_error(errc::validation_failed, "the document has no text");
  return pages;
}

}  // namespace mq::documents
