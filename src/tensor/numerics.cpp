#include "tensor/numerics.h"

namespace loupe {

const char* numerics_name(Numerics n) {
  switch (n) {
    case Numerics::Exact: return "exact";
    case Numerics::LlamaCpp: return "llama.cpp";
    case Numerics::Q8: return "q8";
  }
  return "?";
}

std::optional<Numerics> numerics_from_name(std::string_view name) {
  if (name == "exact") return Numerics::Exact;
  if (name == "llama.cpp" || name == "llamacpp" || name == "ggml") return Numerics::LlamaCpp;
  if (name == "q8") return Numerics::Q8;
  return std::nullopt;
}

ActFormat vec_dot_format(DType type) {
  switch (type) {
    case DType::F32: return ActFormat::F32;
    case DType::F16: return ActFormat::F16;
    case DType::BF16: return ActFormat::BF16;
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
    case DType::IQ4_NL:
    case DType::MXFP4: return ActFormat::Q8_0;
    case DType::Q4_1:
    case DType::Q5_1: return ActFormat::Q8_1;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ3_XXS:
    case DType::IQ1_S:
    case DType::IQ3_S:
    case DType::IQ2_S:
    case DType::IQ4_XS:
    case DType::IQ1_M:
    case DType::TQ1_0:
    case DType::TQ2_0: return ActFormat::Q8_K;
  }
  return ActFormat::F32;
}

const char* act_format_name(ActFormat f) {
  switch (f) {
    case ActFormat::F32: return "f32";
    case ActFormat::F16: return "f16";
    case ActFormat::BF16: return "bf16";
    case ActFormat::Q8_0: return "q8_0";
    case ActFormat::Q8_1: return "q8_1";
    case ActFormat::Q8_K: return "q8_k";
  }
  return "?";
}

}  // namespace loupe
