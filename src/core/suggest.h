// "Did you mean": the candidates nearest to a misspelt word (a subcommand, a flag, a hook name).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loupe {

// Optimal string alignment distance: insertions, deletions, substitutions and transpositions of
// adjacent characters each cost 1.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidates nearest to word (at most max_results, all at the smallest distance found):
// those within an edit distance of about a third of the word's length (at least 1, at most 3),
// and those that start with the word or that the word starts with (a truncated or overlong
// name). Empty when none is close.
std::vector<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates,
                                 size_t max_results = 3);

// " (did you mean 'a' or 'b'?)", or "" when there is nothing to suggest.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace loupe
