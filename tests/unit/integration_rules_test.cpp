// The integration rules of integrated gradients: weights sum to one, Gauss-Legendre is exact for
// polynomials of degree 2n - 1, the graded rule integrates functions that change abruptly near 0.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/gradients.h"
#include "core/error.h"

namespace loupe::analysis {
namespace {

double integrate(const std::vector<double>& a, const std::vector<double>& w, double (*f)(double)) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += w[i] * f(a[i]);
  return s;
}

TEST(IntegrationRules, WeightsSumToOneAndPointsLieInTheInterval) {
  for (Integration rule : {Integration::GaussLegendre, Integration::RiemannTrapezoid, Integration::RiemannMiddle,
                           Integration::RiemannLeft, Integration::RiemannRight, Integration::GaussLegendreGraded})
    for (int n : {1, 2, 3, 7, 50, 128}) {
      std::vector<double> a, w;
      integration_rule(rule, n, a, w);
      ASSERT_EQ(a.size(), static_cast<size_t>(n)) << integration_name(rule);
      double s = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_GE(a[i], 0.0);
        EXPECT_LE(a[i], 1.0);
        EXPECT_GT(w[i], 0.0);
        s += w[i];
      }
      EXPECT_NEAR(s, 1.0, 1e-12) << integration_name(rule) << " " << n;
    }
}

TEST(IntegrationRules, GaussLegendreIsExactForPolynomials) {
  for (int n : {1, 2, 5, 16, 64}) {
    std::vector<double> a, w;
    integration_rule(Integration::GaussLegendre, n, a, w);
    for (int deg = 0; deg <= 2 * n - 1 && deg <= 40; ++deg) {
      double s = 0;
      for (size_t i = 0; i < a.size(); ++i) s += w[i] * std::pow(a[i], deg);
      EXPECT_NEAR(s, 1.0 / (deg + 1), 1e-12) << n << " points, degree " << deg;
    }
  }
}

TEST(IntegrationRules, GradedRuleResolvesAnAbruptStart) {
  // f'(x) for f(x) = x / sqrt(x^2 + e): rises from 0 within x ~ sqrt(e) (RMSNorm of x * a).
  auto fprime = [](double x) { return 1e-8 / std::pow(x * x + 1e-8, 1.5); };
  const double exact = 1.0 / std::sqrt(1.0 + 1e-8);
  std::vector<double> a, w;
  graded_rule(128, 1e-7, a, w);
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += w[i] * fprime(a[i]);
  EXPECT_NEAR(s, exact, 1e-4 * exact);
  integration_rule(Integration::GaussLegendre, 128, a, w);
  double plain = 0;
  for (size_t i = 0; i < a.size(); ++i) plain += w[i] * fprime(a[i]);
  EXPECT_GT(std::fabs(plain - exact), 10 * std::fabs(s - exact));  // what the grading is for
  EXPECT_NEAR(integrate(a, w, [](double x) { return std::cos(x); }), std::sin(1.0), 1e-12);
}

TEST(IntegrationRules, NamesRoundTripAndBadNamesAreErrors) {
  for (Integration rule : {Integration::GaussLegendre, Integration::RiemannTrapezoid, Integration::GaussLegendreGraded})
    EXPECT_EQ(parse_integration(std::string(integration_name(rule)), "--integration"), rule);
  for (GradMethod m :
       {GradMethod::IntegratedGradients, GradMethod::Saliency, GradMethod::GradXInput, GradMethod::AttributionPatching})
    EXPECT_EQ(parse_method(std::string(method_name(m)), "--method"), m);
  EXPECT_THROW(parse_integration("simpson", "--integration"), Error);
  EXPECT_THROW(parse_method("shap", "--method"), Error);
}

}  // namespace
}  // namespace loupe::analysis
