// Charts and the HTML page: well-formed, titles/axis labels/tick labels present, values placed.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "report/charts.h"
#include "report/html.h"
#include "xml_check.h"

namespace loupe {
namespace {

using test::parse_xml;
using test::XmlElement;

std::vector<std::string> texts(const XmlElement& e) {
  std::vector<std::string> out;
  for (const XmlElement* t : e.all("text")) out.push_back(t->text);  // not the <title> tooltip
  return out;
}
bool has_text(const XmlElement& e, const std::string& s) {
  for (const auto& t : texts(e))
    if (t == s) return true;
  return false;
}

TEST(SvgTicks, NiceTicksCoverTheRangeWithRoundSteps) {
  EXPECT_EQ(report::nice_ticks(0, 10, 6), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(report::nice_ticks(0, 1, 5), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  const auto t = report::nice_ticks(-3.7, 41.2, 6);
  EXPECT_LE(t.front(), -3.7);
  EXPECT_GE(t.back(), 41.2);
  EXPECT_LE(t.size(), 8u);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], 10, 1e-9);
  const auto same = report::nice_ticks(5, 5, 5);
  EXPECT_LT(same.front(), 5);
  EXPECT_GT(same.back(), 5);
  EXPECT_EQ(report::nice_ticks(NAN, 1).size(), 2u);
}

TEST(SvgTicks, LogTicksArePowersOfTen) {
  EXPECT_EQ(report::log_ticks(1, 1000), (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_EQ(report::log_ticks(3, 450), (std::vector<double>{1, 10, 100, 1000}));
  const auto wide = report::log_ticks(1, 1e20, 6);
  EXPECT_LE(wide.size(), 7u);
  EXPECT_EQ(wide.front(), 1);
  EXPECT_GE(wide.back(), 1e20);
}

TEST(SvgColours, ScalesAreHexAndMonotoneInLightness) {
  EXPECT_EQ(report::scale_colour(report::ColourScale::Viridis, 0), "#440154");
  EXPECT_EQ(report::scale_colour(report::ColourScale::Viridis, 1), "#fde725");
  EXPECT_EQ(report::scale_colour(report::ColourScale::Viridis, 7), "#fde725");  // clamped
  EXPECT_EQ(report::scale_colour(report::ColourScale::Diverging, 0.5), "#f7f7f7");
  EXPECT_EQ(report::scale_colour(report::ColourScale::Viridis, NAN).size(), 7u);
  EXPECT_NE(report::palette_colour(0), report::palette_colour(1));
  EXPECT_EQ(report::palette_colour(10), report::palette_colour(0));
}

TEST(SvgCharts, HistogramHasBarsAxesAndLabels) {
  report::Histogram h;
  h.frame.title = "lengths & <sizes>";
  h.x_label = "characters";
  h.edges = {0, 10, 20, 30, 40};
  h.counts = {5, 12, 0, 3};
  const auto root = parse_xml(report::histogram(h).str());
  EXPECT_TRUE(has_text(*root, "lengths & <sizes>"));
  EXPECT_TRUE(has_text(*root, "characters"));
  EXPECT_TRUE(has_text(*root, "count"));
  ASSERT_NE(root->by_id("x-axis"), nullptr);
  ASSERT_NE(root->by_id("y-axis"), nullptr);
  for (const char* tick : {"0", "10", "20", "30", "40"}) EXPECT_TRUE(has_text(*root->by_id("x-axis"), tick)) << tick;
  const auto bars = root->by_id("bars")->all("rect");
  ASSERT_EQ(bars.size(), 3u);  // the empty bin draws nothing
  // Bar heights are proportional to counts (same baseline).
  const double h0 = std::stod(bars[0]->attributes.at("height"));
  const double h1 = std::stod(bars[1]->attributes.at("height"));
  EXPECT_NEAR(h1 / h0, 12.0 / 5.0, 0.02);
  EXPECT_EQ(bars[1]->all("title").at(0)->text, "[10, 20): 12");
}

TEST(SvgCharts, HistogramLogYAndEmpty) {
  report::Histogram h;
  h.edges = {1, 2, 3};
  h.counts = {1, 1000};
  h.log_y = true;
  const auto root = parse_xml(report::histogram(h).str());
  EXPECT_TRUE(has_text(*root->by_id("y-axis"), "1000"));
  report::Histogram empty;
  const auto e = parse_xml(report::histogram(empty).str());
  EXPECT_TRUE(has_text(*e, "no data"));
}

TEST(SvgCharts, BarChartLabelsEveryBar) {
  report::BarChart c;
  c.frame.title = "top words";
  c.value_label = "count";
  c.bars = {{"the", 120}, {"caf\xC3\xA9", 40}, {"a \"quoted\" <word>", 7}, {"nan", NAN}};
  const auto root = parse_xml(report::bar_chart(c).str());
  EXPECT_TRUE(has_text(*root, "top words"));
  EXPECT_TRUE(has_text(*root, "count"));
  for (const char* l : {"the", "caf\xC3\xA9", "a \"quoted\" <word>", "120", "40", "7"})
    EXPECT_TRUE(has_text(*root, l)) << l;
  const auto rects = root->by_id("bars")->all("rect");
  ASSERT_EQ(rects.size(), 3u);
  EXPECT_NEAR(std::stod(rects[0]->attributes.at("width")) / std::stod(rects[1]->attributes.at("width")), 3.0, 0.02);
}

TEST(SvgCharts, BarChartGrowsWithManyBars) {
  report::BarChart c;
  for (int i = 0; i < 60; ++i) c.bars.push_back({"w" + std::to_string(i), static_cast<double>(i)});
  const report::SvgDocument doc = report::bar_chart(c);
  EXPECT_GT(doc.height(), 60 * 20);
  ASSERT_NO_THROW(parse_xml(doc.str()));
}

TEST(SvgCharts, XYPlotLinearAndLog) {
  report::XYPlot p;
  p.frame.title = "Zipf";
  p.x = {.label = "rank", .log = true};
  p.y = {.label = "frequency", .log = true};
  report::Series s{.name = "observed", .x = {1, 2, 3, 10, 100}, .y = {1000, 500, 333, 100, 10}, .points = true};
  report::Series fit{.name = "fit", .x = {1, 100}, .y = {1000, 10}};
  report::Series bad{.name = "", .x = {0, -1, NAN}, .y = {1, 2, 3}};
  p.series = {s, fit, bad};
  const auto root = parse_xml(report::xy_plot(p).str());
  EXPECT_TRUE(has_text(*root, "rank"));
  EXPECT_TRUE(has_text(*root, "frequency"));
  EXPECT_TRUE(has_text(*root->by_id("x-axis"), "100"));
  EXPECT_TRUE(has_text(*root->by_id("y-axis"), "1000"));
  ASSERT_NE(root->by_id("legend"), nullptr);
  EXPECT_TRUE(has_text(*root->by_id("legend"), "observed"));
  EXPECT_TRUE(has_text(*root->by_id("legend"), "fit"));
  EXPECT_EQ(root->by_id("series-0")->all("circle").size(), 5u);
  EXPECT_EQ(root->by_id("series-1")->all("polyline").size(), 1u);
  EXPECT_TRUE(root->by_id("series-2")->children.empty());  // nothing drawable on log axes

  // Linear: a point at the data maximum lands at the right end of the axis.
  report::XYPlot lin;
  lin.x.label = "x";
  lin.y.label = "y";
  lin.series = {{.x = {0, 5, 10}, .y = {0, 2.5, 5}, .lines = false, .points = true}};
  const auto r2 = parse_xml(report::xy_plot(lin).str());
  EXPECT_EQ(r2->by_id("legend"), nullptr);  // one series: no legend
  const auto circles = r2->by_id("series-0")->all("circle");
  ASSERT_EQ(circles.size(), 3u);
  const double x0 = std::stod(circles[0]->attributes.at("cx")), x1 = std::stod(circles[1]->attributes.at("cx")),
               x2 = std::stod(circles[2]->attributes.at("cx"));
  EXPECT_NEAR(x1 - x0, x2 - x1, 0.02);
}

TEST(SvgCharts, HeatmapCellsLabelsAndLegend) {
  report::Heatmap h;
  h.frame.title = "logit lens";
  h.row_labels = {"layer 0", "layer 1"};
  h.col_labels = {"The", " cat", " <sat>"};
  h.values = {0, 1, 2, 3, NAN, 5};
  h.value_label = "p";
  h.annotate = true;
  const auto root = parse_xml(report::heatmap(h).str());
  EXPECT_TRUE(has_text(*root, "logit lens"));
  for (const char* l : {"layer 0", "layer 1", "The", " cat", " <sat>", "p"}) EXPECT_TRUE(has_text(*root, l)) << l;
  const auto cells = root->by_id("cells")->all("rect");
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0]->attributes.at("fill"), report::scale_colour(report::ColourScale::Viridis, 0));
  EXPECT_EQ(cells[5]->attributes.at("fill"), report::scale_colour(report::ColourScale::Viridis, 1));
  EXPECT_EQ(cells[4]->all("title").at(0)->text, "layer 1 /  cat: missing");
  EXPECT_EQ(cells[3]->all("title").at(0)->text, "layer 1 / The: 3");
  ASSERT_NE(root->by_id("legend"), nullptr);
  EXPECT_TRUE(has_text(*root->by_id("legend"), "0"));
  EXPECT_TRUE(has_text(*root->by_id("legend"), "4"));
}

// The colour bar's caption runs beside its tick labels, within the canvas and the bar's height:
// never over the column labels above, however long.
TEST(SvgCharts, HeatmapCaptionNeverOverlapsLabels) {
  report::Heatmap h;
  h.frame.width = 300;
  h.frame.height = 200;
  for (int i = 0; i < 12; ++i) h.row_labels.push_back("row " + std::to_string(i));
  for (int i = 0; i < 12; ++i) h.col_labels.push_back("a long column label " + std::to_string(i));
  h.values.assign(144, 0.5);
  h.value_label = "attention (query row -> key column), a caption far longer than the bar is tall";
  const auto root = parse_xml(report::heatmap(h).str());
  const XmlElement* legend = root->by_id("legend");
  ASSERT_NE(legend, nullptr);
  double ticks_x = 0;
  const XmlElement* caption = nullptr;
  for (const XmlElement* t : legend->all("text")) {
    if (t->text == h.value_label)
      caption = t;
    else
      ticks_x = std::max(ticks_x, std::stod(t->attributes.at("x")));
  }
  ASSERT_NE(caption, nullptr);
  const double x = std::stod(caption->attributes.at("x"));
  EXPECT_GT(x, ticks_x + 10);
  EXPECT_LE(x, h.frame.width);
  EXPECT_NE(caption->attributes.at("transform").find("rotate(90"), std::string::npos);
  // Centred on the bar (its outline is the legend's last rect) and squeezed to its height.
  const XmlElement* bar = legend->all("rect").back();
  const double top = std::stod(bar->attributes.at("y")), height = std::stod(bar->attributes.at("height"));
  EXPECT_NEAR(std::stod(caption->attributes.at("y")), top + height / 2, 0.01);  // 2 decimals written
  EXPECT_LE(std::stod(caption->attributes.at("textLength")), height + 0.01);
  EXPECT_LE(top + height, h.frame.height + 0.01);
  // An x-y plot's long series name is squeezed into the legend's column.
  report::XYPlot p;
  p.frame.width = 400;
  p.series = {{.name = "a", .x = {0, 1}, .y = {0, 1}},
              {.name = "a series name much longer than the legend column is wide", .x = {0, 1}, .y = {1, 0}}};
  const auto xy = parse_xml(report::xy_plot(p).str());
  for (const XmlElement* t : xy->by_id("legend")->all("text")) {
    const double right = std::stod(t->attributes.at("x")) +
                         (t->attributes.count("textLength") ? std::stod(t->attributes.at("textLength")) : 10);
    EXPECT_LE(right, p.frame.width) << t->text;
  }
}

TEST(SvgCharts, HeatmapDivergingIsSymmetric) {
  report::Heatmap h;
  h.row_labels = {"r"};
  h.col_labels = {"a", "b", "c"};
  h.values = {-2, 0, 1};
  h.scale = report::ColourScale::Diverging;
  const auto root = parse_xml(report::heatmap(h).str());
  const auto cells = root->by_id("cells")->all("rect");
  EXPECT_EQ(cells[0]->attributes.at("fill"), report::scale_colour(report::ColourScale::Diverging, 0));
  EXPECT_EQ(cells[1]->attributes.at("fill"), report::scale_colour(report::ColourScale::Diverging, 0.5));
  EXPECT_EQ(cells[2]->attributes.at("fill"), report::scale_colour(report::ColourScale::Diverging, 0.75));
}

TEST(SvgHtml, PageIsSelfContainedAndWellFormed) {
  report::HtmlReport page("report <1> & co");
  page.heading("Counts");
  page.key_values({{"documents", "12"}, {"bad \xFF bytes", "x"}});
  page.table({"n-gram", "count"}, {{"the cat", "3"}, {"<b>", "1", "extra"}}, "top");
  report::Histogram h;
  h.edges = {0, 1};
  h.counts = {1};
  h.x_label = "tokens";
  page.figure(report::histogram(h), "lengths");
  page.preformatted("line 1\nline <2>");
  const std::string html = page.str();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("http://www.w3.org/2000/svg") != std::string::npos, true);
  // No external resources: the only URL is the SVG namespace.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  const auto root = parse_xml(html);
  EXPECT_EQ(root->name, "html");
  EXPECT_EQ(root->all("h1").at(0)->text, "report <1> & co");
  EXPECT_EQ(root->all("h2").at(0)->text, "Counts");
  EXPECT_EQ(root->all("svg").size(), 1u);
  EXPECT_EQ(root->all("figcaption").at(0)->text, "lengths");
  EXPECT_EQ(root->all("pre").at(0)->text, "line 1\nline <2>");
  const auto tds = root->all("td");
  bool found = false;
  for (const auto* td : tds) found = found || td->text == "<b>";
  EXPECT_TRUE(found);
  EXPECT_EQ(root->all("caption").at(0)->text, "top");
}

TEST(SvgHtml, SaveReportsBadPath) {
  report::HtmlReport page("x");
  EXPECT_THROW(page.save("/nonexistent-dir/x.html"), Error);
}

}  // namespace
}  // namespace loupe
