// mq-llm-stub: the tests' OpenAI-compatible stub as a process, for benchmarks.
//   mq-llm-stub [--port N] [--latency-ms L] [--threads T]
// Answers every chat completion with a valid classification after L ms, and every POST
// /hooks (a campaign webhook) with 200 after L ms; GET /stats reports calls, calls in
// flight (now and at most) and connections accepted.

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "llm_stub.hpp"

int main(int argc, char** argv) {
  int port = 0, latency = 0, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (a == "--port") port = v;
    else if (a == "--latency-ms") latency = v;
    else if (a == "--threads") threads = v;
    else {
      std::cerr << "usage: mq-llm-stub [--port N] [--latency-ms L] [--threads T]\n";
      return 64;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  mq::test::llm_stub stub(static_cast<unsigned short>(port), threads);
  stub.keep_requests(false);
  mq::test::stub_reply answer;
  answer.prepared = std::make_shared<const std::string>(
      mq::test::llm_stub::completion(mq::test::llm_stub::valid_classification()).wire());
  answer.delay = std::chrono::milliseconds(latency);
  stub.on_chat([answer](const mq::test::stub_request&, int) { return answer; });
  mq::test::stub_reply accepted;
  accepted.prepared = std::make_shared<const std::string>(mq::test::stub_reply::error(200, R"({"ok":true})").wire());
  accepted.delay = std::chrono::milliseconds(latency);
  stub.on_path("/hooks", [accepted](const mq::test::stub_request&, int) { return accepted; });
  std::cout << "listening " << stub.port() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
