// StringCounter (exact), FrequentItems (Misra-Gries heavy hitters) and NgramTable (partitions of either).
#include "data/counter.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/error.h"

namespace loupe::data {

namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Estimated bytes of one sketch key of the given length (hash slot at the table's load, key).
size_t sketch_entry_bytes(size_t key_length) {
  return 96 + key_length;
}

bool by_count_then_key(const CountedKey& a, const CountedKey& b) {
  if (a.count != b.count) return a.count > b.count;
  return a.key < b.key;
}

}  // namespace

uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  uint64_t h = seed ^ (s.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    h ^= mix64(load64(s.data() + i) + kMul);
    h *= kMul;
    h = (h << 29) | (h >> 35);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < s.size(); ++k) tail |= static_cast<uint64_t>(static_cast<uint8_t>(s[i + k])) << (8 * k);
  h ^= mix64(tail ^ 0x5bd1e995ULL);
  h = mix64(h);
  return h == 0 ? 1 : h;
}

// ---- StringCounter ----

void StringCounter::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.hash == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void StringCounter::add(uint64_t hash, std::string_view key, uint64_t count, uint64_t first) {
  LOUPE_ASSERT(hash != 0, "hash 0 is reserved");
  if ((used_ + 1) * 10 > slots_.size() * 7) grow();
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  total_ += count;
  while (slots_[i].hash != 0) {
    if (slots_[i].hash == hash) {
      slots_[i].count += count;
      return;
    }
    i = (i + 1) & mask;
  }
  LOUPE_ASSERT(arena_.size() + key.size() < (uint64_t{1} << 32), "n-gram arena over 4 GiB");
  slots_[i] = Slot{hash, count, first, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size())};
  arena_.append(key);
  ++used_;
}

uint64_t StringCounter::get(uint64_t hash) const {
  if (slots_.empty()) return 0;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask; slots_[i].hash != 0; i = (i + 1) & mask)
    if (slots_[i].hash == hash) return slots_[i].count;
  return 0;
}

std::vector<CountedKey> StringCounter::entries() const {
  std::vector<CountedKey> out;
  out.reserve(used_);
  for (const Slot& s : slots_)
    if (s.hash != 0) out.push_back({arena_.substr(s.offset, s.length), s.count, 0, s.first});
  return out;
}

void StringCounter::clear() {
  std::vector<Slot>().swap(slots_);
  std::string().swap(arena_);
  std::vector<Slot>().swap(scratch_);
  std::string().swap(spare_arena_);
  used_ = 0;
  total_ = 0;
}

void StringCounter::reset() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  arena_.clear();
  used_ = 0;
  total_ = 0;
}

void StringCounter::subtract_and_drop(uint64_t t) {
  // Kept slots and keys go to scratch buffers that are kept between calls (this runs once per
  // `capacity` new keys of a sketch: no allocation, no page faults in steady state).
  scratch_.clear();
  spare_arena_.clear();
  for (const Slot& s : slots_) {
    if (s.hash == 0 || s.count <= t) continue;
    scratch_.push_back(Slot{s.hash, s.count - t, s.first, static_cast<uint32_t>(spare_arena_.size()), s.length});
    spare_arena_.append(arena_, s.offset, s.length);
  }
  arena_.swap(spare_arena_);
  std::fill(slots_.begin(), slots_.end(), Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : scratch_) {
    size_t i = s.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
  used_ = scratch_.size();
}

// ---- FrequentItems ----

FrequentItems::FrequentItems(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

void FrequentItems::add(uint64_t hash, std::string_view key, uint64_t count) {
  total_ += count;
  table_.add(hash, key, count);
  if (table_.size() > 2 * capacity_) prune();
}

void FrequentItems::prune() {
  if (table_.size() <= capacity_) return;
  std::vector<uint64_t> lows;
  lows.reserve(table_.size());
  table_.for_each([&lows](uint64_t, std::string_view, uint64_t c, uint64_t) { lows.push_back(c); });
  // t: the (capacity+1)-th largest low.
  const auto nth = lows.begin() + static_cast<std::ptrdiff_t>(capacity_);
  std::nth_element(lows.begin(), nth, lows.end(), std::greater<>());
  const uint64_t t = *nth;
  table_.subtract_and_drop(t);
  slack_ += t;
}

void FrequentItems::merge(const std::vector<CountedKey>& other, uint64_t other_min_count, uint64_t other_total) {
  // Keys of the other side: true count in [count - error, count]; keys it does not list: in
  // [0, other_min_count]. Adding the lower bounds and the largest slack keeps both bounds.
  uint64_t other_slack = other_min_count;
  for (const CountedKey& k : other) other_slack = std::max(other_slack, k.error);
  const uint64_t before = total_;
  for (const CountedKey& k : other) {
    const uint64_t low = k.count - std::min(k.count, k.error);
    if (low > 0) {
      table_.add(hash_bytes(k.key), k.key, low);
      if (table_.size() > 2 * capacity_) prune();
    }
  }
  slack_ += other_slack;
  prune();
  total_ = before + other_total;
}

std::vector<CountedKey> FrequentItems::entries() const {
  std::vector<CountedKey> out;
  out.reserve(table_.size());
  table_.for_each([&](uint64_t, std::string_view key, uint64_t low, uint64_t) {
    out.push_back({std::string(key), low + slack_, slack_, 0});
  });
  return out;
}

// ---- NgramTable ----

NgramTable::NgramTable(size_t budget_bytes) : budget_(budget_bytes), parts_(kPartitions) {}

size_t NgramTable::sketch_capacity(size_t avg_key) const {
  // A sketch's table holds up to 2 * capacity keys before it prunes: half the share each.
  return std::max<size_t>(16, budget_ / kPartitions / 2 / sketch_entry_bytes(avg_key));
}

void NgramTable::maybe_switch(Partition& part) {
  if (part.sketch || part.exact.memory_bytes() <= budget_ / kPartitions) return;
  size_t key_bytes = 0;
  part.exact.for_each([&key_bytes](uint64_t, std::string_view k, uint64_t, uint64_t) { key_bytes += k.size(); });
  const size_t avg_key = part.exact.size() == 0 ? 8 : key_bytes / part.exact.size();
  switch_to_sketch(part, sketch_capacity(avg_key));
}

void NgramTable::switch_to_sketch(Partition& part, size_t capacity) const {
  part.sketch = std::make_unique<FrequentItems>(capacity);
  // Exact counts enter as a merge of an exact summary: no slack yet, pruned to capacity.
  part.sketch->merge(part.exact.entries(), 0, part.exact.total());
  part.exact.clear();
}

void NgramTable::add(int partition, uint64_t hash, std::string_view key, uint64_t count, uint64_t first) {
  Partition& part = parts_[static_cast<size_t>(partition)];
  if (part.sketch) {
    part.sketch->add(hash, key, count);
    return;
  }
  part.exact.add(hash, key, count, first);
  // Checking memory on every add is cheap (two loads); switching happens once.
  maybe_switch(part);
}

void NgramTable::merge_partition(int p, const std::vector<CountedKey>& other, const PartitionState& state) {
  Partition& part = parts_[static_cast<size_t>(p)];
  if (!state.sketch && !part.sketch) {
    for (const CountedKey& k : other) {
      part.exact.add(hash_bytes(k.key), k.key, k.count, k.first);
    }
    maybe_switch(part);
    return;
  }
  if (!part.sketch) {
    // Never smaller than the other side's sketch, so merging never loses its capacity.
    size_t key_bytes = 0;
    for (const CountedKey& k : other) key_bytes += k.key.size();
    const size_t avg_key = other.empty() ? 8 : key_bytes / other.size();
    switch_to_sketch(part, std::max<size_t>(sketch_capacity(avg_key), state.capacity));
  }
  part.sketch->merge(other, state.sketch ? state.min_count : 0, state.total);
}

std::vector<CountedKey> NgramTable::entries() const {
  std::vector<CountedKey> out;
  for (const Partition& part : parts_) {
    std::vector<CountedKey> e = part.sketch ? part.sketch->entries() : part.exact.entries();
    out.insert(out.end(), std::make_move_iterator(e.begin()), std::make_move_iterator(e.end()));
  }
  return out;
}

std::vector<CountedKey> NgramTable::top(size_t k) const {
  std::vector<CountedKey> all = entries();
  const size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), by_count_then_key);
  all.resize(n);
  return all;
}

uint64_t NgramTable::total() const {
  uint64_t t = 0;
  for (const Partition& part : parts_) t += part.sketch ? part.sketch->total() : part.exact.total();
  return t;
}

uint64_t NgramTable::distinct() const {
  uint64_t d = 0;
  for (const Partition& part : parts_) d += part.sketch ? part.sketch->size() : part.exact.size();
  return d;
}

bool NgramTable::exact() const {
  return std::none_of(parts_.begin(), parts_.end(), [](const Partition& p) { return p.sketch != nullptr; });
}

uint64_t NgramTable::max_error() const {
  uint64_t m = 0;
  for (const Partition& part : parts_)
    if (part.sketch)
      for (const CountedKey& k : part.sketch->entries()) m = std::max(m, k.error);
  return m;
}

size_t NgramTable::memory_bytes() const {
  size_t b = 0;
  for (const Partition& part : parts_) b += part.sketch ? part.sketch->memory_bytes() : part.exact.memory_bytes();
  return b;
}

NgramTable::PartitionState NgramTable::partition_state(int p) const {
  const Partition& part = parts_[static_cast<size_t>(p)];
  if (!part.sketch) return {false, part.exact.total(), 0, 0};
  return {true, part.sketch->total(), part.sketch->min_count(), part.sketch->capacity()};
}

}  // namespace loupe::data
