#pragma once

// Headless Chromium (Debian's /usr/bin/chromium) driven over the DevTools protocol, for
// tests of pages the API serves: navigate, evaluate JavaScript, click like a mouse.

#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>

namespace mq::test {

class browser {
 public:
  /// Starts Chromium with an empty profile and opens one blank page; throws when it
  /// cannot (see available()).
  browser();
  ~browser();
  browser(const browser&) = delete;
  browser& operator=(const browser&) = delete;

  /// Whether Chromium is installed (scripts/dev test installs it).
  static bool available();

  /// Loads `url` and waits for its load event.
  void navigate(const std::string& url);
  /// The value of a JavaScript expression (promises awaited), as JSON text ("null" for
  /// undefined); throws on an exception in the page.
  std::string eval(const std::string& expression);
  /// Clicks the centre of the first element matching `selector` with the mouse.
  void click(const std::string& selector);
  /// Console errors and uncaught exceptions the page reported so far.
  std::string page_errors() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mq::test
