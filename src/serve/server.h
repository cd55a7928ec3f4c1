// loupe serve: one live session of a model (and a reference) behind a local HTTP server, for the
// page in web/ (docs/serve.md lists the API). Every request carries a random token; the server
// binds to loopback unless told otherwise, answers only for the files named on its command line
// (requests hold data indices, never paths), bounds bodies, and runs one model task at a time
// (others get 409), with progress as server-sent events and cancellation between ops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/interpreter.h"

namespace loupe::serve {

struct ServeOptions {
  std::string model;
  std::string tokenizer;          // overrides the model's tokenizer
  std::string reference;          // a second model: the diff view
  std::vector<std::string> data;  // corpus files the page may analyse, by index
  std::string store;              // a run store for /metrics
  std::string host = "127.0.0.1";
  int port = 0;         // 0: any free port
  std::string web_dir;  // the built page (index.html, assets/); empty or missing: the API only
  std::string token;    // empty: a random one
  RunOptions run;
  size_t max_body = size_t{1} << 20;  // request bodies past this get 413
  int max_events = 8;                 // concurrent event streams
};

// A token of 32 hexadecimal digits from the system's random source.
std::string random_token();

// Whether a host name or address is this machine only (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& host);

class Server {
 public:
  // Loads the models (errors name the file) and reads the page's files into memory.
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the socket; returns the port. Throws Error when the address cannot be bound.
  int bind();
  // Serves until stop() (from another thread or a signal watcher).
  void run();
  void stop();
  // http://HOST:PORT/?token=TOKEN
  std::string url() const;
  const std::string& token() const;
  // Whether the page was found (false: the API only, "/" explains how to build it).
  bool has_page() const;

  struct Impl;  // src/serve/server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace loupe::serve
