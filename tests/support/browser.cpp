#include "browser.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "mq/core/json.hpp"
#include "process.hpp"
#include "stack.hpp"

namespace mq::test {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

const char* chromium = "/usr/bin/chromium";

}  // namespace

struct browser::impl {
  std::string profile;
  std::unique_ptr<process> chrome;
  boost::asio::io_context io;
  websocket::stream<tcp::socket> ws{io};
  int next_id = 1;
  std::string session;
  bool loaded = false;
  std::string errors;

  /// Notes what an event says (load finished, errors in the page).
  void on_event(const rapidjson::Document& m) {
    const std::string method = m["method"].GetString();
    if (method == "Page.loadEventFired") loaded = true;
    if (method == "Runtime.exceptionThrown") errors += json::stringify(m["params"]["exceptionDetails"]) + "\n";
    if (method == "Runtime.consoleAPICalled" && std::string(m["params"]["type"].GetString()) == "error")
      errors += json::stringify(m["params"]["args"]) + "\n";
  }

  /// Reads one message (throws after 30 s of silence).
  rapidjson::Document read() {
    beast::flat_buffer buf;
    ws.read(buf);
    auto doc = json::parse(beast::buffers_to_string(buf.data()));
    if (!doc) throw std::runtime_error("DevTools sent something that is not JSON");
    return std::move(*doc);
  }

  /// Sends a command (to the page's session unless `browser_level`) and returns its
  /// result, handling the events that arrive meanwhile.
  rapidjson::Document call(const std::string& method, const std::string& params = "{}", bool browser_level = false) {
    const int id = next_id++;
    std::string msg = "{\"id\":" + std::to_string(id) + ",\"method\":" + json::quote(method) + ",\"params\":" + params;
    if (!browser_level) msg += ",\"sessionId\":" + json::quote(session);
    ws.write(boost::asio::buffer(msg + "}"));
    for (;;) {
      auto m = read();
      if (m.HasMember("method")) {
        on_event(m);
        continue;
      }
      if (!m.HasMember("id") || m["id"].GetInt() != id) continue;
      if (m.HasMember("error")) throw std::runtime_error(method + ": " + json::stringify(m["error"]));
      rapidjson::Document out;
      out.CopyFrom(m["result"], out.GetAllocator());
      return out;
    }
  }
};

bool browser::available() { return access(chromium, X_OK) == 0; }

browser::browser() : impl_(std::make_unique<impl>()) {
  impl_->profile = std::filesystem::temp_directory_path() / ("mq-chromium-" + std::to_string(getpid()) + "-" +
                                                             std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  std::filesystem::remove_all(impl_->profile);
  std::filesystem::create_directories(impl_->profile);
  // Flags for a machine without a display or outside network: no sandbox (root), no GPU,
  // none of Chromium's own background connections.
  impl_->chrome = std::make_unique<process>(
      chromium, std::map<std::string, std::string>{}, impl_->profile + ".log",
      std::vector<std::string>{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--window-size=1280,2000", "--remote-debugging-port=0",
                               "--user-data-dir=" + impl_->profile, "about:blank"});
  // Chromium writes its DevTools port and path to the profile once it listens.
  std::string port, path;
  if (!eventually([&] {
        std::ifstream f(impl_->profile + "/DevToolsActivePort");
        return std::getline(f, port) && std::getline(f, path) && !path.empty();
      }, std::chrono::seconds(30)))
    throw std::runtime_error("Chromium did not open its DevTools port (log: " + impl_->profile + ".log)");
  tcp::resolver resolver(impl_->io);
  boost::asio::connect(impl_->ws.next_layer(), resolver.resolve("127.0.0.1", port));
  timeval tv{30, 0};
  setsockopt(impl_->ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  impl_->ws.read_message_max(64 << 20);
  impl_->ws.handshake("127.0.0.1:" + port, path);
  auto target = impl_->call("Target.createTarget", R"({"url":"about:blank"})", true);
  auto attached = impl_->call("Target.attachToTarget",
                              "{\"targetId\":" + json::quote(target["targetId"].GetString()) + ",\"flatten\":true}", true);
  impl_->session = attached["sessionId"].GetString();
  impl_->call("Page.enable");
  impl_->call("Runtime.enable");
}

browser::~browser() {
  beast::error_code ec;
  impl_->ws.next_layer().close(ec);
  impl_->chrome.reset();  // SIGKILL and wait
  std::error_code gone;
  std::filesystem::remove_all(impl_->profile, gone);
  std::filesystem::remove(impl_->profile + ".log", gone);
}

void browser::navigate(const std::string& url) {
  impl_->loaded = false;
  impl_->call("Page.navigate", "{\"url\":" + json::quote(url) + "}");
  while (!impl_->loaded) {
    auto m = impl_->read();
    if (m.HasMember("method")) impl_->on_event(m);
  }
}

std::string browser::eval(const std::string& expression) {
  auto r = impl_->call("Runtime.evaluate", "{\"expression\":" + json::quote(expression) +
                                               ",\"returnByValue\":true,\"awaitPromise\":true}");
  if (r.HasMember("exceptionDetails")) throw std::runtime_error("in the page: " + json::stringify(r["exceptionDetails"]));
  const auto& v = r["result"];
  return v.HasMember("value") ? json::stringify(v["value"]) : "null";
}

void browser::click(const std::string& selector) {
  auto where = json::parse(eval("(() => { const e = document.querySelector(" + json::quote(selector) +
                                "); if (!e) return null; e.scrollIntoView({block: 'center'}); "
                                "const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"));
  if (!where || !where->IsObject()) throw std::runtime_error("nothing to click at " + selector);
  const auto at = "\"x\":" + json::stringify((*where)["x"]) + ",\"y\":" + json::stringify((*where)["y"]);
  impl_->call("Input.dispatchMouseEvent", "{\"type\":\"mouseMoved\"," + at + "}");
  impl_->call("Input.dispatchMouseEvent", "{\"type\":\"mousePressed\",\"button\":\"left\",\"clickCount\":1," + at + "}");
  impl_->call("Input.dispatchMouseEvent", "{\"type\":\"mouseReleased\",\"button\":\"left\",\"clickCount\":1," + at + "}");
}

std::string browser::page_errors() const { return impl_->errors; }

}  // namespace mq::test
