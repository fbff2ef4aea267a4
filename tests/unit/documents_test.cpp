// Documents as text: what extraction accepts, how text is normalised, where chunks cut
// and how they overlap.

#include <gtest/gtest.h>

#include "mq/core/utf8.hpp"
#include "mq/documents/text.hpp"
#include "pdf_fixture.hpp"

namespace {

using namespace mq;
using namespace mq::documents;

std::size_t chars(const std::string& s) { return utf8::decode(s).size(); }

TEST(Documents, NormalisingKeepsWordsAndParagraphsAndDropsTheRest) {
  EXPECT_EQ(normalize("  Hola\t\t mundo  \r\n\r\n\r\n\r\nSegundo\x01 párrafo\x7f.\r\n"), "Hola mundo\n\nSegundo párrafo.");
  EXPECT_EQ(normalize("a\u00a0\u3000b\fc"), "a b\nc");
  EXPECT_EQ(normalize(" \n\t "), "");
}

TEST(Documents, TextMustBeUtf8AndNotEmpty) {
  EXPECT_TRUE(extract("\xef\xbb\xbf# Título\n\nTexto.", "text/markdown"));
  EXPECT_EQ((*extract("\xef\xbb\xbfhola", "text/plain"))[0].text, "hola");
  auto latin1 = extract("caf\xe9", "text/plain");
  ASSERT_FALSE(latin1);
  EXPECT_EQ(latin1.err().message, "the text is not UTF-8");
  EXPECT_EQ(extract("  \n ", "text/plain").err().message, "the document has no text");
  EXPECT_EQ(extract("x", "image/png").err().code, errc::unsupported_media_type);
  EXPECT_EQ(extract("not a pdf", "application/pdf").err().message, "the file is not a PDF");
  EXPECT_FALSE(extract("%PDF-1.4 garbage that is no PDF at all", "application/pdf"));
}

TEST(Documents, PdfTextComesOutPageByPage) {
  auto pages = extract(test::pdf_with_pages({"First page says hello.", "Second page says goodbye."}), "application/pdf");
  ASSERT_TRUE(pages) << pages.err().message;
  ASSERT_EQ(pages->size(), 2u);
  EXPECT_EQ((*pages)[0].number, 1);
  EXPECT_NE((*pages)[0].text.find("First page says hello."), std::string::npos) << (*pages)[0].text;
  EXPECT_EQ((*pages)[1].number, 2);
  EXPECT_NE((*pages)[1].text.find("goodbye"), std::string::npos);
}

TEST(Documents, ChunksCutAtParagraphsThenSentencesAndOverlap) {
  std::string para1, para2;
  for (int i = 0; i < 12; ++i) para1 += "Frase número " + std::to_string(i) + " del primer párrafo. ";
  for (int i = 0; i < 12; ++i) para2 += "Sentence " + std::to_string(i) + " of the second paragraph. ";
  auto text = normalize(para1 + "\n\n" + para2);
  auto chunks = split({{std::nullopt, text}}, {200, 40});
  ASSERT_GE(chunks.size(), 4u);
  const auto all = utf8::decode(text);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    EXPECT_EQ(c.index, static_cast<int>(i));
    EXPECT_LE(chars(c.content), 200u) << c.content;
    EXPECT_EQ(utf8::encode(all.substr(c.start, c.end - c.start)), c.content) << "offsets point at the content";
    EXPECT_FALSE(c.page.has_value());
    if (i + 1 < chunks.size()) {
      // Each ends on a sentence; the next starts before it ended, unless a paragraph
      // begins there.
      EXPECT_TRUE(c.content.back() == '.') << c.content;
      const bool paragraph = chunks[i + 1].content.rfind("Sentence 0 ", 0) == 0;
      if (paragraph) continue;
      EXPECT_LT(chunks[i + 1].start, c.end) << "no overlap after chunk " << i;
      EXPECT_GE(chunks[i + 1].start, c.end - 40 - 1) << "overlap longer than asked after chunk " << i;
    }
  }
  // No chunk spans the paragraph break, and one starts the second paragraph.
  int starts_second = 0;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.content.find("\n\n"), std::string::npos) << c.content;
    starts_second += c.content.rfind("Sentence 0 ", 0) == 0;
  }
  EXPECT_EQ(starts_second, 1);
  EXPECT_EQ(chunks.back().end, static_cast<int>(all.size()));
}

TEST(Documents, AWordLongerThanAChunkIsCutAndEveryCharacterIsCovered) {
  const std::string word(1200, 'x');
  auto chunks = split({{std::nullopt, "ñ " + word}}, {500, 50});
  ASSERT_GE(chunks.size(), 3u);
  int covered = 0;
  for (const auto& c : chunks) {
    EXPECT_LE(chars(c.content), 500u);
    covered = std::max(covered, c.end);
  }
  EXPECT_EQ(covered, 1202);
}

TEST(Documents, ChunksKnowTheirPage) {
  std::vector<page> pages{{1, std::string(300, 'a') + " fin."}, {2, "Página dos. " + std::string(700, 'b')}};
  auto chunks = split(pages, {250, 20});
  ASSERT_GE(chunks.size(), 4u);
  const int page_two = 305 + 2;  // page one's characters, then the blank line between
  for (const auto& c : chunks) EXPECT_EQ(c.page, c.start >= page_two ? 2 : 1) << "chunk " << c.index;
  EXPECT_EQ(chunks.front().page, 1);
  EXPECT_EQ(chunks.back().page, 2);
}

}  // namespace
