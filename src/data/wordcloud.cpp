// Word cloud layout (spiral placement with box collision) and drawing.
#include "data/wordcloud.h"

#include <algorithm>
#include <cmath>

#include "report/charts.h"

namespace loupe::data {

namespace {

constexpr double kMargin = 2;
constexpr double kLineHeight = 1.2;  // box height in em

bool overlaps(const PlacedWord& a, const PlacedWord& b) {
  return a.x < b.x + b.width + kMargin && b.x < a.x + a.width + kMargin && a.y < b.y + b.height + kMargin &&
         b.y < a.y + a.height + kMargin;
}

}  // namespace

WordCloud layout_word_cloud(const std::vector<CloudWord>& input, double width, double height, size_t max_words,
                            double min_font, double max_font) {
  WordCloud cloud;
  cloud.width = width;
  cloud.height = height;
  std::vector<CloudWord> words;
  for (const CloudWord& w : input)
    if (w.weight > 0 && std::isfinite(w.weight) && !w.text.empty()) words.push_back(w);
  std::stable_sort(words.begin(), words.end(),
                   [](const CloudWord& a, const CloudWord& b) { return a.weight > b.weight; });
  if (words.size() > max_words) words.resize(max_words);
  if (words.empty()) return cloud;
  const double top = words.front().weight;
  const double cx = width / 2, cy = height / 2;
  for (const CloudWord& w : words) {
    double size = min_font + (max_font - min_font) * std::sqrt(w.weight / top);
    bool placed = false;
    for (int attempt = 0; attempt < 3 && !placed; ++attempt, size *= 0.8) {
      PlacedWord p{w.text, 0, 0, report::text_width(w.text, size), size * kLineHeight, size};
      if (p.width + 2 * kMargin > width || p.height + 2 * kMargin > height) continue;
      // Archimedean spiral r = a * theta, a step of about 2 units along the curve.
      const double a = 1.5;
      const double max_r = std::hypot(width, height) / 2;
      for (double theta = 0; a * theta < max_r; theta += std::max(0.05, 2.0 / std::max(1.0, a * theta))) {
        const double r = a * theta;
        // Stretch horizontally: canvases are wider than tall, words too.
        p.x = cx + r * std::cos(theta) * (width / height) - p.width / 2;
        p.y = cy + r * std::sin(theta) - p.height / 2;
        if (p.x < kMargin || p.y < kMargin || p.x + p.width > width - kMargin || p.y + p.height > height - kMargin)
          continue;
        bool clash = false;
        for (const PlacedWord& q : cloud.words) {
          if (overlaps(p, q)) {
            clash = true;
            break;
          }
        }
        if (clash) continue;
        cloud.words.push_back(p);
        placed = true;
        break;
      }
    }
    if (!placed) ++cloud.dropped;
  }
  return cloud;
}

report::SvgDocument draw_word_cloud(const WordCloud& cloud, const std::string& title) {
  report::SvgDocument doc(std::max(1.0, cloud.width), std::max(1.0, cloud.height));
  if (!title.empty()) doc.set_title(title);
  doc.begin_group("words");
  for (size_t i = 0; i < cloud.words.size(); ++i) {
    const PlacedWord& w = cloud.words[i];
    doc.text(w.x, w.y + w.height / 2, w.text,
             {.size = w.font_size, .fill = report::palette_colour(i), .middle_baseline = true, .fit_width = w.width},
             w.text);
  }
  doc.end_group();
  return doc;
}

}  // namespace loupe::data
