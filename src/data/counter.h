// Counting strings (n-grams) in bounded memory.
//
// StringCounter is an exact table: 64-bit hash -> count, the key bytes kept once in an arena.
// Keys are identified by their hash (hash_bytes); two different n-grams with the same 64-bit
// hash would be merged (probability about n^2 / 2^65 for n distinct keys: 3e-8 for 10^6).
//
// FrequentItems (Misra-Gries) keeps the heaviest keys of a stream in fixed memory. Each kept
// key is reported with a count that over-estimates its true count by at most its `error`; any
// key not kept occurs at most min_count() times, and every error is at most total / (capacity
// + 1). Two summaries merge with the same guarantees (Agarwal et al. 2012).
//
// NgramTable counts one kind of n-gram (e.g. word bigrams) in kPartitions partitions chosen by
// hash, so that workers can fill different partitions at the same time. A partition is exact
// until it uses more than its share of the memory budget, then it turns into a FrequentItems
// summary of its heaviest keys. Partitions depend only on the keys, never on the
// thread count, so results are the same for any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::data {

// A fast 64-bit hash of bytes (multiply-xorshift over 8-byte words); never returns 0.
uint64_t hash_bytes(std::string_view s, uint64_t seed = 0);
// A 64-bit finaliser (good avalanche), for combining hashes.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

struct CountedKey {
  std::string key;
  uint64_t count = 0;  // upper bound of the true count (exact when error is 0)
  uint64_t error = 0;  // count - error <= true count <= count
  uint64_t first = 0;  // caller's position of the first occurrence (exact tables; see add)
};

class StringCounter {
 public:
  // Adds count to key (hash must be hash_bytes(key)). first is kept from the first add only.
  void add(uint64_t hash, std::string_view key, uint64_t count, uint64_t first = 0);
  uint64_t get(uint64_t hash) const;  // 0 when absent
  // Hints the cache about the slot add(hash, ...) will probe first.
  void prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  size_t size() const { return used_; }
  uint64_t total() const { return total_; }
  // Approximate bytes held (slots and key arena).
  size_t memory_bytes() const {
    return (slots_.size() + scratch_.capacity()) * sizeof(Slot) + arena_.capacity() + spare_arena_.capacity();
  }
  std::vector<CountedKey> entries() const;  // unordered
  // Calls f(hash, key, count, first) for every entry (key valid until the next add/clear).
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.hash != 0) f(s.hash, std::string_view(arena_).substr(s.offset, s.length), s.count, s.first);
  }
  void clear();
  // Empties the table but keeps its memory (for per-batch scratch tables).
  void reset();
  // Subtracts t from every count and drops the keys left at 0 (frequent-items pruning); the
  // key arena is compacted, the slot array keeps its size.
  void subtract_and_drop(uint64_t t);

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint64_t count = 0;
    uint64_t first = 0;
    uint32_t offset = 0;  // into arena_
    uint32_t length = 0;
  };
  void grow();

  std::vector<Slot> slots_;
  size_t used_ = 0;
  uint64_t total_ = 0;
  std::string arena_;
  std::vector<Slot> scratch_;  // subtract_and_drop's buffers, kept between calls
  std::string spare_arena_;
};

// Misra-Gries frequent items with batched decrements (Misra & Gries 1982; merging as in
// Agarwal et al. 2012). Each kept key has a lower bound `low` of its true count; the partition
// keeps `slack` D, the sum of all decrements, so low <= true <= low + D for kept keys and
// true <= D for any key not kept. The table may grow to 2 * capacity keys; then the
// (capacity+1)-th largest low t is subtracted from every key, keys at or below it are dropped
// and D grows by t. Each such step removes at least (capacity+1) * t from the kept counts, so
// D <= total / (capacity + 1). Updates cost one hash probe; pruning is amortised O(1).
class FrequentItems {
 public:
  explicit FrequentItems(size_t capacity);
  void add(uint64_t hash, std::string_view key, uint64_t count);
  size_t capacity() const { return capacity_; }
  size_t size() const { return table_.size(); }
  uint64_t total() const { return total_; }
  // The upper bound of any key not kept (and of the error of every kept one): D.
  uint64_t min_count() const { return slack_; }
  // Kept keys with count = low + D (an upper bound) and error = D.
  std::vector<CountedKey> entries() const;
  size_t memory_bytes() const { return table_.memory_bytes(); }
  void prefetch(uint64_t hash) const { table_.prefetch(hash); }
  // Merges another summary given as entries (true count in [count - error, count]), the bound
  // for its keys not listed, and its total.
  void merge(const std::vector<CountedKey>& other, uint64_t other_min_count, uint64_t other_total);

 private:
  void prune();

  size_t capacity_;
  uint64_t total_ = 0;
  uint64_t slack_ = 0;
  StringCounter table_;  // hash -> low
};

class NgramTable {
 public:
  static constexpr int kPartitions = 64;

  // budget_bytes: the memory allowed for this table (split evenly over partitions).
  explicit NgramTable(size_t budget_bytes);

  static int partition_of(uint64_t hash) { return static_cast<int>((hash >> 58) & (kPartitions - 1)); }
  // Adds to a partition; only one thread may touch a given partition at a time.
  void add(int partition, uint64_t hash, std::string_view key, uint64_t count, uint64_t first = 0);
  void prefetch(int partition, uint64_t hash) const {
    const Partition& part = parts_[static_cast<size_t>(partition)];
    if (part.sketch)
      part.sketch->prefetch(hash);
    else
      part.exact.prefetch(hash);
  }

  // The k most frequent keys, by count (descending) then key (ascending).
  std::vector<CountedKey> top(size_t k) const;
  // All entries (for summaries and vocabulary statistics).
  std::vector<CountedKey> entries() const;
  uint64_t total() const;      // n-grams counted
  uint64_t distinct() const;   // distinct keys (a lower bound once any partition is a sketch)
  bool exact() const;          // no partition turned into a sketch
  uint64_t max_error() const;  // largest error bound of any reported count
  size_t memory_bytes() const;
  size_t budget_bytes() const { return budget_; }

  struct PartitionState {
    bool sketch = false;
    uint64_t total = 0;
    uint64_t min_count = 0;  // sketches only
    uint64_t capacity = 0;   // sketches only
  };
  PartitionState partition_state(int p) const;
  // Merges another table's entries of partition p (as from entries(), with that partition's
  // state): exact + exact stays exact (first positions: the smaller wins); otherwise the
  // partition becomes a sketch (of at least the other side's capacity) holding the
  // FrequentItems merge of both.
  void merge_partition(int p, const std::vector<CountedKey>& other, const PartitionState& state);

 private:
  struct Partition {
    StringCounter exact;
    std::unique_ptr<FrequentItems> sketch;
  };
  void maybe_switch(Partition& part);
  size_t sketch_capacity(size_t avg_key) const;
  // Turns an exact partition into a sketch of the given capacity holding its counts.
  void switch_to_sketch(Partition& part, size_t capacity) const;

  size_t budget_;
  std::vector<Partition> parts_;
};

}  // namespace loupe::data
