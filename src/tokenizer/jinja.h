// A Jinja2 subset for chat templates (tokenizer.chat_template in GGUF files, chat_template in
// Hugging Face's tokenizer_config.json), rendered the way transformers' apply_chat_template
// renders them: an immutable sandbox with trim_blocks and lstrip_blocks on, {% break %} and
// {% continue %}, a tojson that writes json.dumps(ensure_ascii=False), raise_exception and
// strftime_now. What is supported is listed in docs/chat.md; anything else is an Error naming
// the construct and its line and column ("chat template line 3, column 12: unsupported filter
// 'wordwrap'"), as are syntax errors and raise_exception(). Undefined names follow Jinja's
// default Undefined, leniently: they print as nothing, are false, and their attributes are
// undefined too.
#pragma once

#include <cstdint>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

namespace loupe {

struct JinjaOptions {
  std::time_t now = -1;          // the clock of strftime_now (local time); -1 = the current time
  size_t max_output = 16 << 20;  // bytes of output (and of any one string value) before an Error
  int64_t max_steps = 5000000;   // evaluation steps before an Error (loops over huge ranges)
};

// Renders `source` with the variables of `context` (a JSON object; objects keep their order).
std::string render_jinja(const std::string& source, const nlohmann::ordered_json& context,
                         const JinjaOptions& options = {});

// Checks the syntax of `source` (unclosed blocks, unknown filters and tests) without rendering.
void check_jinja(const std::string& source);

}  // namespace loupe
