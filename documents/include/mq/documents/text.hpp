#pragma once

// Documents as text: extraction from the formats we take, normalisation, and chunking
// with overlap on paragraph and sentence boundaries. Pure functions, no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::documents {

/// The content types a document may have.
bool supported_type(std::string_view mime);

/// One page of extracted text (plain and Markdown documents have one, without number).
struct page {
  std::optional<int> number;  ///< 1-based, for PDFs.
  std::string text;
};

/// The text of a document: UTF-8 as it is for text/plain and text/markdown, every page's
/// text for application/pdf (poppler). validation_failed when the bytes are not what the
/// type says, not UTF-8, or hold no text at all.
result<std::vector<page>> extract(std::string_view bytes, std::string_view mime);

/// Line ends made \n, control characters (but \n and \t) dropped, runs of blanks made one
/// space, blank lines at most one in a row, no blanks at line ends or around the text.
std::string normalize(std::string_view text);

struct chunk_options {
  int size = 500;    ///< Most characters (code points) in a chunk.
  int overlap = 50;  ///< Characters each chunk repeats from the end of the one before.
};

/// One piece of a document, as stored and searched.
struct chunk {
  int index = 0;
  std::string content;
  std::optional<int> page;  ///< The page it starts on (PDFs).
  int start = 0;            ///< Offset of its first character in the document's text.
  int end = 0;              ///< Offset past its last character.
};

/// Splits normalised pages into chunks of at most `size` characters that each start
/// `overlap` characters before the previous one ended (moved to a word start), except
/// after a paragraph break, where the next chunk starts with the new paragraph. A chunk
/// ends at the last paragraph break in its second half if there is one, else at the last
/// sentence end, else at the last blank, else at `size`. Offsets count characters of the
/// pages joined by blank lines.
std::vector<chunk> split(const std::vector<page>& pages, chunk_options o = {});

}  // namespace mq::documents
