// Exact and near duplicate documents.
//
// Exact: a document repeats an earlier one when their bytes are equal (compared by a 64-bit
// hash of the text; a false match needs a hash collision, about n^2 / 2^65 for n documents).
//
// Near: MinHash over the set of word 3-gram shingles (words lower-cased), kMinHashes = 32
// hash functions, and locality-sensitive hashing with kBands = 8 bands of kRows = 4 values.
// A document is a near duplicate when it shares a band with an earlier document (and is not an
// exact duplicate). Two documents whose shingle sets have Jaccard similarity s share a band with
// probability 1 - (1 - s^4)^8: 0.04 at s = 0.3, 0.41 at 0.5, 0.87 at 0.7, 0.98 at 0.8, 1.0 at
// 0.9. Documents with fewer than 3 words have no shingles and are not checked for near copies.
//
// DedupIndex processes documents in input order (one thread) and stays within a document cap
// (about kBytesPerDocument bytes each); documents past the cap are counted but not checked.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::data {

constexpr int kMinHashes = 32;
constexpr int kBands = 8;
constexpr int kRows = 4;
constexpr int kShingleWords = 3;
constexpr size_t kBytesPerDocument = 450;  // index memory per checked document, a bound

using BandKeys = std::array<uint64_t, kBands>;  // all 0: no signature

// Builds MinHash band keys from word hashes (in document order).
class MinHasher {
 public:
  MinHasher();
  // Returns false (keys all 0) when there are fewer than kShingleWords words.
  bool band_keys(const std::vector<uint64_t>& word_hashes, BandKeys& keys) const;

 private:
  std::array<uint64_t, kMinHashes> mul_;
  std::array<uint64_t, kMinHashes> add_;
};

// Where a document is: source index and 1-based line, packed in 64 bits.
inline uint64_t pack_location(uint32_t source, int64_t line) {
  return (static_cast<uint64_t>(source) << 40) | (static_cast<uint64_t>(line) & ((uint64_t{1} << 40) - 1));
}
inline uint32_t location_source(uint64_t packed) {
  return static_cast<uint32_t>(packed >> 40);
}
inline int64_t location_line(uint64_t packed) {
  return static_cast<int64_t>(packed & ((uint64_t{1} << 40) - 1));
}

// What the index found for one document.
struct DedupResult {
  bool checked = false;       // false past the cap
  bool exact = false;         // repeats an earlier document exactly
  bool near = false;          // shares an LSH band with an earlier document
  uint64_t original = 0;      // packed location of the earlier document (exact or near)
  bool first_repeat = false;  // exact: the first time this text repeats (a new group)
};

class DedupIndex {
 public:
  explicit DedupIndex(uint64_t max_documents);
  // hash: hash_bytes of the text; keys: from MinHasher (all 0 when none); location: packed.
  DedupResult add(uint64_t hash, const BandKeys& keys, uint64_t location);

  uint64_t checked() const { return checked_; }
  uint64_t unchecked() const { return unchecked_; }
  uint64_t max_documents() const { return max_documents_; }
  size_t memory_bytes() const;

 private:
  // Open addressing map u64 -> (value, count); key 0 is empty.
  struct Slot {
    uint64_t key = 0;
    uint64_t value = 0;
    uint64_t count = 0;
  };
  struct Table {
    std::vector<Slot> slots;
    size_t used = 0;
    Slot* find_or_insert(uint64_t key, uint64_t value, bool& inserted);
    void grow();
  };

  uint64_t max_documents_;
  uint64_t checked_ = 0;
  uint64_t unchecked_ = 0;
  Table exact_;
  Table bands_;
};

}  // namespace loupe::data
