// The HTTP server's bytes on the wire: status line, headers, framing, keep-alive and close,
// over a loopback socket to a server in this process.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "mq/core/http_server.hpp"

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace mq;

/// A server on a free port answering by path, run by one thread until destroyed.
struct running_server {
  net::io_context io;
  http::server srv;
  std::thread thread;

  running_server()
      : srv(io, options(), [](http::request&& req, http::responder respond) {
          http::response r;
          if (req.path == "/created") {
            r.status = 201;
            r.body = R"({"id":7})";
            r.headers = {{"Location", "/things/7"}};
          } else if (req.path == "/empty") {
            r.status = 204;
          } else if (req.path == "/slow") {
            // Longer than the idle timeout: a request being answered is not idle.
            std::thread([respond = std::move(respond)]() mutable {
              std::this_thread::sleep_for(std::chrono::milliseconds(2500));
              http::response late;
              late.body = "late";
              respond(std::move(late));
            }).detach();
            return;
          } else if (req.path == "/large") {
            r.body = std::string(1 << 20, 'x');
          } else {
            r.body = "path=" + req.path;
            r.content_type = "text/plain";
          }
          // Answered from another thread, as handlers that wait on a pool do.
          std::thread([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); }).detach();
        }) {
    srv.start();
    thread = std::thread([this] { io.run(); });
  }
  ~running_server() {
    io.stop();
    thread.join();
  }

  static http::server_options options() {
    http::server_options o;
    o.body_limit = 16;
    o.idle_timeout = std::chrono::seconds(1);
    o.on_parse_failure = [](http::parse_failure) {
      http::response r;
      r.status = 413;
      r.body = R"({"error":"too large"})";
      return r;
    };
    return o;
  }
};

/// One response read off the socket: everything up to the end of its body.
std::string read_response(tcp::socket& s, std::string& pending) {
  auto head_end = net::read_until(s, net::dynamic_buffer(pending), "\r\n\r\n");
  std::string head = pending.substr(0, head_end);
  std::size_t length = 0;
  if (auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoul(head.substr(at + 16));
  if (pending.size() < head_end + length)
    net::read(s, net::dynamic_buffer(pending), net::transfer_exactly(head_end + length - pending.size()));
  auto out = pending.substr(0, head_end + length);
  pending.erase(0, head_end + length);
  return out;
}

tcp::socket connect(net::io_context& io, std::uint16_t port) {
  tcp::socket s(io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  return s;
}

TEST(HttpServer, WritesStatusHeadersAndLengthAndKeepsTheConnection) {
  running_server server;
  net::io_context io;
  auto s = connect(io, server.srv.port());
  std::string pending;
  net::write(s, net::buffer(std::string("POST /created HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")));
  EXPECT_EQ(read_response(s, pending),
            "HTTP/1.1 201 Created\r\nServer: mq\r\nContent-Type: application/json\r\nLocation: /things/7\r\n"
            "Content-Length: 8\r\n\r\n{\"id\":7}");
  // The same connection answers again; a 204 has neither length nor body.
  net::write(s, net::buffer(std::string("DELETE /empty HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_EQ(read_response(s, pending), "HTTP/1.1 204 No Content\r\nServer: mq\r\nContent-Type: application/json\r\n\r\n");
  // Two requests sent at once are answered in order.
  net::write(s, net::buffer(std::string("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_EQ(read_response(s, pending),
            "HTTP/1.1 200 OK\r\nServer: mq\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\npath=/one");
  EXPECT_EQ(read_response(s, pending),
            "HTTP/1.1 200 OK\r\nServer: mq\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\npath=/two");
  // A body larger than any socket buffer arrives whole, and the connection goes on.
  net::write(s, net::buffer(std::string("GET /large HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto large = read_response(s, pending);
  EXPECT_EQ(large.substr(0, large.find("\r\n\r\n")),
            "HTTP/1.1 200 OK\r\nServer: mq\r\nContent-Type: application/json\r\nContent-Length: 1048576");
  EXPECT_EQ(large.substr(large.find("\r\n\r\n") + 4), std::string(1 << 20, 'x'));
  EXPECT_EQ(read_response(s, pending).substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_TRUE(pending.empty());
}

TEST(HttpServer, ClosesWhenAskedAndAfterARequestItCannotParse) {
  running_server server;
  net::io_context io;
  for (const std::string& request :
       {std::string("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        std::string("GET /old HTTP/1.0\r\n\r\n"),
        std::string("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n12345678901234567")}) {
    auto s = connect(io, server.srv.port());
    net::write(s, net::buffer(request));
    std::string all;
    boost::system::error_code ec;
    net::read(s, net::dynamic_buffer(all), ec);  // to the end: the server closes
    EXPECT_EQ(ec, net::error::eof) << request;
    EXPECT_NE(all.find("\r\nConnection: close\r\n"), std::string::npos) << all;
    const auto length = all.find("Content-Length: ");
    ASSERT_NE(length, std::string::npos) << all;
    EXPECT_EQ(all.size() - (all.find("\r\n\r\n") + 4), std::stoul(all.substr(length + 16))) << all;
    if (request.find("/big") != std::string::npos) {
      EXPECT_EQ(all.rfind("HTTP/1.1 413 ", 0), 0u) << all;
    }
  }
}

TEST(HttpServer, ClosesConnectionsLeftSilentButNotOnesWaitingForTheirAnswer) {
  running_server server;
  net::io_context io;
  auto slow = connect(io, server.srv.port());
  net::write(slow, net::buffer(std::string("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")));
  const auto started = std::chrono::steady_clock::now();
  for (const std::string& sent : {std::string(), std::string("GET /half HTTP/1.1\r\nHo")}) {
    auto s = connect(io, server.srv.port());
    if (!sent.empty()) net::write(s, net::buffer(sent));
    std::string all;
    boost::system::error_code ec;
    net::read(s, net::dynamic_buffer(all), ec);  // returns when the server closes
    EXPECT_EQ(ec, net::error::eof);
    EXPECT_TRUE(all.empty()) << all;
  }
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  std::string pending;
  const auto answer = read_response(slow, pending);
  EXPECT_EQ(answer.substr(answer.size() - 4), "late") << answer;
}

}  // namespace
