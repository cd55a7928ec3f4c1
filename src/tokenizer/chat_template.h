// Chat templates: a conversation rendered through the model's Jinja chat template (GGUF
// tokenizer.chat_template, or chat_template in a Hugging Face folder's tokenizer_config.json)
// into the prompt text the model was trained on, as transformers' apply_chat_template does.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja.h"

namespace loupe {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

// Renders `tmpl` with the variables apply_chat_template passes: messages (a list of {role,
// content}), tools and documents (none), add_generation_prompt, bos_token and eos_token.
// Errors as render_jinja's.
std::string render_chat(const std::string& tmpl, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token, const JinjaOptions& options = {});

// The chat template of a Hugging Face model folder: chat_template.jinja if present, else
// tokenizer_config.json's "chat_template" (a string, or a list of {name, template} of which the
// one named "default" is taken, else the first). "" when there is none (an unreadable
// tokenizer_config.json counts as none, as for its bos_token / eos_token).
std::string hf_chat_template(const std::string& dir);

}  // namespace loupe
