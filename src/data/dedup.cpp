// MinHash band keys and the exact / LSH duplicate index.
#include "data/dedup.h"

#include <algorithm>
#include <limits>

#include "data/counter.h"

namespace loupe::data {

MinHasher::MinHasher() {
  // Fixed parameters (a splitmix64 sequence) so signatures are the same in every run and shard.
  uint64_t s = 0x6a09e667f3bcc908ULL;
  const auto next = [&s] {
    s += 0x9E3779B97F4A7C15ULL;
    return mix64(s);
  };
  for (int j = 0; j < kMinHashes; ++j) {
    mul_[static_cast<size_t>(j)] = next() | 1;
    add_[static_cast<size_t>(j)] = next();
  }
}

bool MinHasher::band_keys(const std::vector<uint64_t>& word_hashes, BandKeys& keys) const {
  keys.fill(0);
  if (word_hashes.size() < static_cast<size_t>(kShingleWords)) return false;
  std::array<uint32_t, kMinHashes> mins;
  mins.fill(std::numeric_limits<uint32_t>::max());
  for (size_t i = 0; i + kShingleWords <= word_hashes.size(); ++i) {
    const uint64_t shingle = mix64(word_hashes[i] ^ mix64(word_hashes[i + 1] + 0x1234567ULL) ^
                                   (mix64(word_hashes[i + 2] + 0x89abcdefULL) << 1));
    for (size_t j = 0; j < kMinHashes; ++j) {
      const auto h = static_cast<uint32_t>((mul_[j] * shingle + add_[j]) >> 32);
      mins[j] = std::min(mins[j], h);
    }
  }
  for (int b = 0; b < kBands; ++b) {
    uint64_t k = 0x51ed270b27a3a9c1ULL * static_cast<uint64_t>(b + 1);
    for (int r = 0; r < kRows; ++r) k = mix64(k ^ mins[static_cast<size_t>(b) * kRows + static_cast<size_t>(r)]);
    keys[static_cast<size_t>(b)] = k == 0 ? 1 : k;
  }
  return true;
}

void DedupIndex::Table::grow() {
  std::vector<Slot> old;
  old.swap(slots);
  slots.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  const size_t mask = slots.size() - 1;
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    size_t i = mix64(s.key) & mask;
    while (slots[i].key != 0) i = (i + 1) & mask;
    slots[i] = s;
  }
}

DedupIndex::Slot* DedupIndex::Table::find_or_insert(uint64_t key, uint64_t value, bool& inserted) {
  if ((used + 1) * 10 > slots.size() * 7) grow();
  const size_t mask = slots.size() - 1;
  size_t i = mix64(key) & mask;
  while (slots[i].key != 0) {
    if (slots[i].key == key) {
      inserted = false;
      return &slots[i];
    }
    i = (i + 1) & mask;
  }
  slots[i] = Slot{key, value, 0};
  ++used;
  inserted = true;
  return &slots[i];
}

DedupIndex::DedupIndex(uint64_t max_documents) : max_documents_(max_documents) {}

DedupResult DedupIndex::add(uint64_t hash, const BandKeys& keys, uint64_t location) {
  DedupResult r;
  if (checked_ >= max_documents_) {
    ++unchecked_;
    return r;
  }
  ++checked_;
  r.checked = true;
  bool inserted = false;
  Slot* s = exact_.find_or_insert(hash == 0 ? 1 : hash, location, inserted);
  s->count += 1;
  if (!inserted) {
    r.exact = true;
    r.original = s->value;
    r.first_repeat = s->count == 2;
    return r;
  }
  for (int b = 0; b < kBands; ++b) {
    const uint64_t key = keys[static_cast<size_t>(b)];
    if (key == 0) continue;
    Slot* band = bands_.find_or_insert(key, location, inserted);
    if (!inserted && !r.near) {
      r.near = true;
      r.original = band->value;
    }
  }
  return r;
}

size_t DedupIndex::memory_bytes() const {
  return (exact_.slots.size() + bands_.slots.size()) * sizeof(Slot);
}

}  // namespace loupe::data
