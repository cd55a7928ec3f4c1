#include "tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace loupe {

std::string render_chat(const std::string& tmpl, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token, const JinjaOptions& options) {
  nlohmann::ordered_json context;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  context["messages"] = std::move(list);
  context["tools"] = nullptr;  // as apply_chat_template passes them when there are none
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = bos_token;
  context["eos_token"] = eos_token;
  return render_jinja(tmpl, context, options);
}

namespace {

bool read_text(const std::filesystem::path& path, std::string* out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

}  // namespace

std::string hf_chat_template(const std::string& dir) {
  const std::filesystem::path d(dir);
  std::string text;
  if (read_text(d / "chat_template.jinja", &text)) return text;
  if (!read_text(d / "tokenizer_config.json", &text)) return "";
  const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("chat_template")) return "";
  const nlohmann::json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array()) return "";
  const nlohmann::json* chosen = nullptr;
  for (const auto& entry : t) {
    if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) continue;
    if (chosen == nullptr) chosen = &entry;
    if (entry.value("name", "") == "default") chosen = &entry;
  }
  return chosen != nullptr ? (*chosen)["template"].get<std::string>() : "";
}

}  // namespace loupe
