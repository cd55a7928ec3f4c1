// loupe serve's server in process, over real HTTP on loopback: the token on every request, the
// Host check, only the page's own files (no path from a request reaches the disk: .., encoded
// forms, absolute paths, symbolic links), bounded and checked bodies, the API's figures equal
// to the CLI's JSON, one task at a time (409) with cancellation, many bad requests at once, and a
// clean stop. The page itself is tested by web/ (vitest) and web/e2e (chromium).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve/server.h"
#include "test_support.h"

namespace loupe {
namespace {

using nlohmann::json;

struct Serve : ::testing::Test {
  void SetUp() override {
    dir = test::temp_dir("serve");
    // A page of two files, a link to a file outside it and a linked folder.
    std::filesystem::create_directories(dir + "/web/assets");
    std::ofstream(dir + "/web/index.html") << "<!doctype html><title>page</title>";
    std::ofstream(dir + "/web/assets/app.js") << "console.log(1)";
    std::ofstream(dir + "/outside.txt") << "SECRET";
    std::filesystem::create_symlink(dir + "/outside.txt", dir + "/web/link.txt");
    std::filesystem::create_directory_symlink(dir, dir + "/web/up");
    corpus = dir + "/corpus.jsonl";
    std::ofstream c(corpus);
    for (int i = 0; i < 6; ++i)
      c << json({{"text", "Once upon a time there was a cat number " + std::to_string(i)}}).dump() << "\n";
    start({corpus});
  }
  void start(std::vector<std::string> data) {
    serve::ServeOptions o;
    o.model = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
    o.reference = test::shared("models/stories260K-gguf/stories260K-f32.gguf");
    o.data = std::move(data);
    o.web_dir = dir + "/web";
    o.run.n_threads = 1;
    o.max_body = 4096;
    server = std::make_unique<serve::Server>(o);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
    token = server->token();
  }
  void TearDown() override {
    if (server) server->stop();
    if (thread.joinable()) thread.join();
    server.reset();
    std::filesystem::remove_all(dir);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
  httplib::Headers auth() const { return {{"X-Loupe-Token", token}}; }
  httplib::Result post(const std::string& path, const json& body) const {
    return client().Post(path.c_str(), auth(), body.dump(), "application/json");
  }
  json post_json(const std::string& path, const json& body) const {
    auto r = post(path, body);
    EXPECT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return json::parse(r->body);
  }

  std::string dir, corpus, token;
  std::unique_ptr<serve::Server> server;
  std::thread thread;
  int port = 0;
};

TEST_F(Serve, EveryRequestNeedsTheToken) {
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(port) + "/?token=" + token);
  EXPECT_EQ(token.size(), 32u);
  auto c = client();
  EXPECT_EQ(c.Get("/api/info")->status, 403);
  EXPECT_EQ(c.Get("/")->status, 403);
  EXPECT_EQ(c.Get("/index.html?token=0")->status, 403);
  EXPECT_EQ(c.Get("/api/info", {{"X-Loupe-Token", token.substr(1) + "0"}})->status, 403);
  EXPECT_EQ(c.Get("/api/info", auth())->status, 200);
  EXPECT_EQ(c.Get(("/api/info?token=" + token).c_str())->status, 200);
  EXPECT_EQ(c.Get("/api/info", {{"Authorization", "Bearer " + token}})->status, 200);
  EXPECT_EQ(c.Get("/api/info", {{"Cookie", "a=b; loupe_token=" + token}})->status, 200);
  EXPECT_EQ(c.Get("/api/info", {{"Cookie", "xloupe_token=" + token}})->status, 403);
  // The page sets the cookie its own requests (scripts, styles) then carry.
  auto page = c.Get(("/?token=" + token).c_str());
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Set-Cookie").find("HttpOnly"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  // DNS rebinding: a foreign Host header is refused even with the token.
  httplib::Headers foreign = auth();
  foreign.emplace("Host", "evil.example:" + std::to_string(port));
  EXPECT_EQ(c.Get("/api/info", foreign)->status, 403);
}

TEST_F(Serve, OnlyThePagesOwnFilesAreServed) {
  auto c = client();
  EXPECT_EQ(c.Get("/index.html", auth())->body, "<!doctype html><title>page</title>");
  EXPECT_EQ(c.Get("/assets/app.js", auth())->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  for (const char* p : {"/link.txt", "/up/outside.txt", "/../outside.txt", "/%2e%2e/outside.txt",
                        "/assets/../../outside.txt", "/..%2foutside.txt", "//etc/passwd", "/etc/passwd",
                        "/assets/%2e%2e%2f%2e%2e%2foutside.txt", "/index.html%00.js"}) {
    auto r = c.Get(p, auth());
    ASSERT_TRUE(r) << p;
    EXPECT_TRUE(r->status == 404 || r->status == 400) << p << ": " << r->status;
    EXPECT_EQ(r->body.find("SECRET"), std::string::npos) << p;
    EXPECT_EQ(r->body.find("root:"), std::string::npos) << p;
  }
  // Requests name data files by index, never by path.
  auto r = post("/api/explore", {{"data", "/etc/passwd"}});
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'data'"), std::string::npos);
  EXPECT_EQ(post("/api/explore", {{"data", 1}})->status, 400);
  EXPECT_EQ(post("/api/explore", {{"data", -1}})->status, 400);
}

TEST_F(Serve, BodiesAreBoundedAndChecked) {
  auto big = post("/api/run", {{"prompt", std::string(8000, 'a')}});
  EXPECT_EQ(big->status, 413);
  auto c = client();
  auto broken = c.Post("/api/run", auth(), "{\"prompt\": ", "application/json");
  EXPECT_EQ(broken->status, 400);
  EXPECT_NE(json::parse(broken->body)["error"].get<std::string>().find("not JSON"), std::string::npos);
  auto wrong = post("/api/run", {{"prompt", 3}});
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("'prompt' is not a string"), std::string::npos);
  auto missing = post("/api/lens", json::object());
  EXPECT_NE(missing->body.find("'prompt' is missing"), std::string::npos);
  auto range = post("/api/run", {{"prompt", "hi"}, {"top_k", 100000}});
  EXPECT_EQ(range->status, 400);
  EXPECT_NE(range->body.find("'top_k'"), std::string::npos);
  auto utf8 = c.Post("/api/run", auth(), std::string("{\"prompt\": \"a\xff\"}"), "application/json");
  EXPECT_GE(utf8->status, 400);
  EXPECT_EQ(c.Get("/api/nothing", auth())->status, 404);
  EXPECT_EQ(post("/api/debug", {{"command", "step"}})->status, 400);  // no session yet
  // The server still answers.
  EXPECT_EQ(c.Get("/api/info", auth())->status, 200);
}

TEST_F(Serve, TheApisFiguresEqualTheCliJson) {
  const std::string m = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
  const std::string prompt = "Once upon a time, there was a little girl";
  const auto cli = [](const std::string& args) {
    const auto r = test::run_loupe(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  EXPECT_EQ(post_json("/api/lens", {{"prompt", prompt}}), cli("lens " + m + " -p \"" + prompt + "\" --json"));
  const json att = post_json("/api/attention", {{"prompt", prompt}});
  EXPECT_EQ(att["heads"], cli("attention " + m + " -p \"" + prompt + "\" --json")["heads"]);
  ASSERT_EQ(att["patterns"].size(), 5u);
  ASSERT_EQ(att["patterns"][0].size(), 8u);
  const auto n = att["tokens"].size();
  ASSERT_EQ(att["patterns"][2][3].size(), n);
  for (size_t q = 0; q < n; ++q) {
    double sum = 0;
    for (double w : att["patterns"][2][3][q]) sum += w;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  json act = post_json("/api/activations", {{"data", 0}});
  json act_cli = cli("activations " + m + " --data " + corpus + " --json -t 1");
  EXPECT_EQ(act["hooks"], act_cli["hooks"]);
  // The run view: each token's loss is eval's for the same document.
  const json run = post_json("/api/run", {{"prompt", prompt}, {"top_k", 3}});
  const json eval = cli("eval " + m + " --data " + corpus + " --json -t 1");
  ASSERT_GT(run["tokens"].size(), 5u);
  EXPECT_TRUE(run["tokens"][0]["loss"].is_null());
  double sum = 0;
  for (size_t i = 1; i < run["tokens"].size(); ++i) {
    const json& t = run["tokens"][i];
    sum += t["loss"].get<double>();
    EXPECT_EQ(t["top"].size(), 3u);
    if (t["rank"] == 0) EXPECT_EQ(t["top"][0]["id"], t["id"]);
  }
  EXPECT_NEAR(run["mean_loss"].get<double>(), sum / static_cast<double>(run["tokens"].size() - 1), 1e-12);
  EXPECT_TRUE(eval.contains("ppl"));
  // Debugger: a breakpoint, run, step; the listing marks the op.
  post_json("/api/debug/start", {{"prompt", prompt}});
  post_json("/api/debug", {{"command", "break blocks.1.hook_resid_post"}});
  json stop = post_json("/api/debug", {{"command", "run"}});
  EXPECT_EQ(stop["json"]["stop"], "breakpoint");
  EXPECT_EQ(stop["state"]["where"]["hook"], "blocks.1.hook_resid_post");
  EXPECT_EQ(stop["state"]["breakpoints"].size(), 1u);
  const json effect = post_json("/api/debug/effect", {{"edit", "ablate 0 4"}});
  EXPECT_NE(effect["before"], effect["after"]);
  EXPECT_EQ(post("/api/debug", {{"command", "save hook_embed /tmp/x.npy"}})->status, 403);
}

TEST_F(Serve, OneTaskAtATimeAndCancel) {
  // A corpus long enough that the activations task is still running when the others arrive.
  TearDown();
  dir = test::temp_dir("serve-long");
  corpus = dir + "/long.jsonl";
  {
    std::ofstream c(corpus);
    for (int i = 0; i < 20000; ++i)
      c << json({{"text", "Once upon a time there was a little girl named Lily number " + std::to_string(i)}}).dump()
        << "\n";
  }
  start({corpus});
  int long_status = 0;
  std::string long_body;
  std::thread t([&] {
    auto r = post("/api/activations", {{"data", 0}});
    if (r) {
      long_status = r->status;
      long_body = r->body;
    }
  });
  // Wait until it runs (the event stream says so), then: a second task is refused, cancel works.
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto r = post("/api/run", {{"prompt", "hi"}});
    if (r && r->status == 409) {
      running = true;
      EXPECT_EQ(json::parse(r->body)["busy"], "activations");
    }
  }
  EXPECT_TRUE(running);
  EXPECT_EQ(post_json("/api/cancel", json::object())["cancelled"], true);
  t.join();
  EXPECT_EQ(long_status, 422);
  EXPECT_NE(long_body.find("cancelled"), std::string::npos);
  // The model is free again, and the interpreter state did not leak into the next run.
  EXPECT_EQ(post("/api/run", {{"prompt", "Once upon a time"}})->status, 200);
}

TEST_F(Serve, MetricsServeTheRunStoreAsOpenMetrics) {
  auto c = client();
  EXPECT_EQ(c.Get("/metrics", auth())->status, 404);  // no --store
  const std::string db = dir + "/runs.db";
  const auto kept = test::run_loupe("eval " + test::shared("models/stories260K-gguf/stories260K-q8_0.gguf") +
                                    " --data " + corpus + " --store " + db + " -t 1");
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  const auto exported = test::run_loupe("runs export --openmetrics --store " + db);
  server->stop();
  thread.join();
  serve::ServeOptions o;
  o.model = test::shared("models/stories260K-gguf/stories260K-q8_0.gguf");
  o.store = db;
  o.run.n_threads = 1;
  server = std::make_unique<serve::Server>(o);
  port = server->bind();
  thread = std::thread([this] { server->run(); });
  token = server->token();
  EXPECT_EQ(client().Get("/metrics")->status, 403);
  auto m = client().Get("/metrics", {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(m->body, exported.out);  // the same names and samples as loupe runs export
  EXPECT_NE(m->body.find("loupe_eval_ppl"), std::string::npos);
  EXPECT_EQ(m->get_header_value("Content-Type").rfind("application/openmetrics-text", 0), 0u);
}

TEST_F(Serve, ManyBadRequestsAtOnceLeaveItServing) {
  // 64 clients at once without the token: none gets through. (Under this burst cpp-httplib's
  // client sometimes reports a read error for a refused POST instead of the 403; the page's
  // end-to-end test sends 200 at once from node and sees 403 for every one.)
  std::vector<std::thread> threads;
  std::atomic<int> refused{0}, through{0};
  for (int i = 0; i < 64; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(60, 0);
      auto r = i % 3 == 0   ? c.Get("/api/info")
               : i % 3 == 1 ? c.Post("/api/run", "{", "application/json")
                            : c.Get("/../../etc/passwd");
      if (r && r->status == 403) ++refused;
      if (r && r->status != 403) ++through;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(through.load(), 0);
  EXPECT_GE(refused.load(), 40);
  EXPECT_EQ(client().Get("/api/info", auth())->status, 200);
  EXPECT_EQ(post("/api/run", {{"prompt", "Once upon a time"}})->status, 200);
}

}  // namespace
}  // namespace loupe
