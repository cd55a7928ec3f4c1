// A word cloud: words sized by frequency, placed without overlap inside a canvas.
//
// Layout: words in order of weight (heaviest first) get a font size from min_font to max_font
// by the square root of weight / max weight; each is tried along an Archimedean spiral from the
// centre until its box (report::text_width x 1.2 em, plus a 2-unit margin) overlaps no placed box
// and lies inside the canvas. A word that finds no place is retried at 80% size twice, then
// left out. The drawing forces each word to its box width (SVG textLength), so the rendered
// words keep the no-overlap property whatever font the viewer has.
#pragma once

#include <string>
#include <vector>

#include "report/svg.h"

namespace loupe::data {

struct CloudWord {
  std::string text;
  double weight = 0;  // > 0; frequency
};

struct PlacedWord {
  std::string text;
  double x = 0, y = 0;  // top-left of the box
  double width = 0, height = 0;
  double font_size = 0;
};

struct WordCloud {
  double width = 0, height = 0;
  std::vector<PlacedWord> words;  // placed words, heaviest first
  size_t dropped = 0;             // words that found no place
};

WordCloud layout_word_cloud(const std::vector<CloudWord>& words, double width, double height, size_t max_words = 120,
                            double min_font = 10, double max_font = 64);

report::SvgDocument draw_word_cloud(const WordCloud& cloud, const std::string& title);

}  // namespace loupe::data
