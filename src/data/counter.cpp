// StringCounter (exact), SpaceSaving (heavy hitters) and NgramTable (partitions of either).
#include "data/counter.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "core/error.h"

namespace loupe::data {

namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Estimated bytes of one SpaceSaving entry with a key of the given length (entry, index node).
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
  used_ = 0;
  total_ = 0;
}

void StringCounter::reset() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  arena_.clear();
  used_ = 0;
  total_ = 0;
}

// ---- SpaceSaving ----

SpaceSaving::SpaceSaving(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {
  size_t slots = 16;
  while (slots < 2 * capacity_) slots *= 2;
  index_.assign(slots, IndexSlot{});
}

SpaceSaving::IndexSlot* SpaceSaving::find(uint64_t hash) {
  const size_t mask = index_.size() - 1;
  for (size_t i = mix64(hash) & mask;; i = (i + 1) & mask) {
    if (index_[i].hash == hash) return &index_[i];
    if (index_[i].hash == 0) return nullptr;
  }
}

void SpaceSaving::set_pos(uint64_t hash, size_t pos) {
  const size_t mask = index_.size() - 1;
  size_t i = mix64(hash) & mask;
  while (index_[i].hash != 0 && index_[i].hash != hash) i = (i + 1) & mask;
  index_[i] = {hash, pos};
}

void SpaceSaving::erase(uint64_t hash) {
  const size_t mask = index_.size() - 1;
  size_t i = mix64(hash) & mask;
  while (index_[i].hash != hash) {
    LOUPE_ASSERT(index_[i].hash != 0, "space-saving index: erasing a missing key");
    i = (i + 1) & mask;
  }
  // Backward-shift: move later entries of the probe run into the hole when that is allowed.
  size_t hole = i;
  for (size_t j = (i + 1) & mask; index_[j].hash != 0; j = (j + 1) & mask) {
    const size_t home = mix64(index_[j].hash) & mask;
    // j may move to hole when its home is not in the cyclic range (hole, j].
    const bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = IndexSlot{};
}

void SpaceSaving::swap_entries(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  set_pos(heap_[a].hash, a);
  set_pos(heap_[b].hash, b);
}

static bool less_entry(uint64_t ca, uint64_t ha, uint64_t cb, uint64_t hb) {
  return ca != cb ? ca < cb : ha < hb;
}

void SpaceSaving::sift_down(size_t i) {
  for (;;) {
    const size_t l = 2 * i + 1, r = l + 1;
    size_t m = i;
    if (l < heap_.size() && less_entry(heap_[l].count, heap_[l].hash, heap_[m].count, heap_[m].hash)) m = l;
    if (r < heap_.size() && less_entry(heap_[r].count, heap_[r].hash, heap_[m].count, heap_[m].hash)) m = r;
    if (m == i) return;
    swap_entries(i, m);
    i = m;
  }
}

void SpaceSaving::sift_up(size_t i) {
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!less_entry(heap_[i].count, heap_[i].hash, heap_[parent].count, heap_[parent].hash)) return;
    swap_entries(i, parent);
    i = parent;
  }
}

void SpaceSaving::add(uint64_t hash, std::string_view key, uint64_t count, uint64_t error) {
  total_ += count;
  if (const IndexSlot* slot = find(hash)) {
    const size_t pos = slot->pos;
    Entry& e = heap_[pos];
    e.count += count;
    e.error += error;
    sift_down(pos);
    return;
  }
  if (heap_.size() < capacity_) {
    heap_.push_back({hash, count, error, std::string(key)});
    set_pos(hash, heap_.size() - 1);
    sift_up(heap_.size() - 1);
    return;
  }
  // Replace the smallest: the newcomer may have occurred up to min times before.
  Entry& root = heap_[0];
  const uint64_t min = root.count;
  erase(root.hash);
  root.hash = hash;
  root.count = min + count;
  root.error = min + error;
  root.key.assign(key);
  set_pos(hash, 0);
  sift_down(0);
}

void SpaceSaving::merge(const std::vector<CountedKey>& other, uint64_t other_min_count, uint64_t other_total) {
  // Keys kept here but not in the other summary may have occurred up to other_min_count times
  // there: raise their counts and errors by that much first.
  if (other_min_count > 0) {
    std::unordered_set<uint64_t> in_other;
    for (const CountedKey& k : other) in_other.insert(hash_bytes(k.key));
    for (Entry& e : heap_) {
      if (in_other.count(e.hash) != 0) continue;
      e.count += other_min_count;
      e.error += other_min_count;
    }
    for (size_t i = heap_.size(); i-- > 0;) sift_down(i);
  }
  const uint64_t before = total_;
  for (const CountedKey& k : other) add(hash_bytes(k.key), k.key, k.count, k.error);
  total_ = before + other_total;
}

std::vector<CountedKey> SpaceSaving::entries() const {
  std::vector<CountedKey> out;
  out.reserve(heap_.size());
  for (const Entry& e : heap_) out.push_back({e.key, e.count, e.error, 0});
  return out;
}

size_t SpaceSaving::memory_bytes() const {
  size_t keys = 0;
  for (const Entry& e : heap_) keys += e.key.capacity();
  return heap_.capacity() * sizeof(Entry) + index_.size() * sizeof(IndexSlot) + keys;
}

// ---- NgramTable ----

NgramTable::NgramTable(size_t budget_bytes) : budget_(budget_bytes), parts_(kPartitions) {}

void NgramTable::maybe_switch(Partition& part) {
  if (part.sketch || part.exact.memory_bytes() <= budget_ / kPartitions) return;
  std::vector<CountedKey> all = part.exact.entries();
  size_t key_bytes = 0;
  for (const CountedKey& k : all) key_bytes += k.key.size();
  const size_t avg_key = all.empty() ? 8 : key_bytes / all.size();
  // A sketch of half the partition budget leaves room to grow keys and index.
  const size_t capacity = std::max<size_t>(16, budget_ / kPartitions / 2 / sketch_entry_bytes(avg_key));
  std::sort(all.begin(), all.end(), by_count_then_key);
  const uint64_t total = part.exact.total();
  part.sketch = std::make_unique<SpaceSaving>(capacity);
  // The kept keys keep exact counts; dropped ones were all <= the smallest kept count, which is
  // the invariant SpaceSaving needs.
  uint64_t kept = 0;
  for (size_t i = 0; i < std::min(all.size(), capacity); ++i) {
    part.sketch->add(hash_bytes(all[i].key), all[i].key, all[i].count);
    kept += all[i].count;
  }
  part.sketch->merge({}, 0, total - kept);
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

void NgramTable::make_sketch(int p) {
  Partition& part = parts_[static_cast<size_t>(p)];
  if (part.sketch) return;
  const size_t saved = budget_;
  budget_ = 0;  // force the switch
  maybe_switch(part);
  budget_ = saved;
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
    // Switch with at least the other side's capacity, so merging never shrinks a sketch.
    make_sketch(p);
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
