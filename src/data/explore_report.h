// The explorer's pictures and HTML page (report/ draws them): word cloud, length histograms,
// n-gram bar charts, the Zipf plot and the vocabulary growth curve, with the key figures and
// tables of examples. Built from the --json report object so both always agree.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "report/html.h"

namespace loupe::data {

// A complete page for the report of report_json().
report::HtmlReport explore_html(const nlohmann::ordered_json& report, const std::string& title);

}  // namespace loupe::data
