using System.Globalization;
using Bunit;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.FluentUI.AspNetCore.Components;
using ModelOps.Console.Components.Shared;
using ModelOps.Dossier;
using ModelOps.Registry.V1;

namespace ModelOps.Console.Tests;

/// <summary>The console's components, rendered by bUnit with Fluent UI's services.</summary>
public sealed class ComponentTests : BunitContext
{
    public ComponentTests()
    {
        Services.AddFluentUIComponents();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    private static PromotionRequest Open(string requester = "dev-pipeline") => new()
    {
        RequestId = "01a2", Model = "credit", Version = 3, Requester = requester, State = RequestState.Open,
        Target = new Target { Stage = Stage.Production }, CreatedAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero)),
        Gates =
        {
            new GateResult { Name = "provenance", Kind = "provenance", Status = GateStatus.Pass, Reason = "all fields" },
            new GateResult { Name = "approvals", Kind = "approval", Status = GateStatus.Pending, Reason = "0 of 2", Evidence = { ["required"] = "2", ["a"] = "first" } },
        },
    };

    [Fact]
    public void AReviewerWhoDidNotAskSeesTheThreeActionsAndTheirClickReportsTheDecisionWithTheComment()
    {
        (string Action, string Comment)? decided = null;
        var cut = Render<ReviewActions>(p => p
            .Add(c => c.Request, Open())
            .Add(c => c.CanReview, true)
            .Add(c => c.Subject, "dev-reviewer")
            .Add(c => c.OnDecide, args => decided = args));
        var buttons = cut.FindAll("fluent-button");
        Assert.Equal(["Approve", "Reject", "Re-evaluate gates"], buttons.Select(b => b.TextContent.Trim()));
        Assert.Equal(["approve", "reject", "reevaluate"], buttons.Select(b => b.GetAttribute("data-action")));
        buttons[0].Click();
        Assert.Equal(("approve", ""), decided);
    }

    [Theory]
    [InlineData(false, "dev-reviewer", RequestState.Open, false)]        // the pipeline's or an auditor's role
    [InlineData(true, "dev-pipeline", RequestState.Open, true)]          // the requester, though a reviewer
    [InlineData(true, "dev-reviewer", RequestState.Approved, false)]     // decided already
    [InlineData(true, "dev-reviewer", RequestState.Rejected, false)]
    public void NobodySeesAButtonTheyCannotUse(bool canReview, string subject, RequestState state, bool toldWhy)
    {
        var request = Open();
        request.State = state;
        var cut = Render<ReviewActions>(p => p.Add(c => c.Request, request).Add(c => c.CanReview, canReview).Add(c => c.Subject, subject));
        Assert.Empty(cut.FindAll("fluent-button"));
        Assert.Equal(toldWhy, cut.Markup.Contains("another reviewer decides it", StringComparison.Ordinal));
    }

    [Fact]
    public void EachGateShowsItsResultReasonAndEvidenceInKeyOrder()
    {
        var cut = Render<GateResults>(p => p.Add(c => c.Gates, Open().Gates));
        var rows = cut.FindAll("tbody tr");
        Assert.Equal(["provenance", "approvals"], rows.Select(r => r.GetAttribute("data-gate")));
        Assert.Equal("PASS", rows[0].QuerySelector("fluent-badge")!.TextContent.Trim());
        Assert.Equal("PENDING", rows[1].QuerySelector("fluent-badge")!.TextContent.Trim());
        Assert.Equal(["a", "required"], rows[1].QuerySelectorAll("dt").Select(d => d.TextContent));
        Assert.Contains("0 of 2", rows[1].TextContent, StringComparison.Ordinal);

        var none = Render<GateResults>(p => p.Add(c => c.Gates, Array.Empty<GateResult>()));
        Assert.Contains("The policy names no gate", none.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public void TheChartPlacesEachPointWhereTheScaleSaysAndLeavesOutWhatIsNotFinite()
    {
        (double X, double Y)[] points = [(0, 1), (5, 3), (10, 2), (7, double.NaN)];
        var cut = Render<LineChart>(p => p.Add(c => c.Title, "loss").Add(c => c.Points, points).Add(c => c.Total, 1000));

        // The oracle: the view box is 480×140 with a 6-unit margin; x from 0 to 10, y from 1 to 3 (y grows downwards).
        static string At(double x, double y) => string.Create(CultureInfo.InvariantCulture, $"{6 + (x / 10 * 468):0.##},{140 - 6 - ((y - 1) / 2 * 128):0.##}");
        Assert.Equal($"{At(0, 1)} {At(5, 3)} {At(10, 2)}", cut.Find("polyline").GetAttribute("points"));
        Assert.Equal("6,134 240,6 474,70", cut.Find("polyline").GetAttribute("points"));
        Assert.Contains("4 points of 1000, steps 0 to 10, values 1 to 3", cut.Find("figcaption").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void AFlatSeriesIsDrawnAndAnEmptyOneIsNot()
    {
        var flat = Render<LineChart>(p => p.Add(c => c.Title, "auc").Add(c => c.Points, [(1, 0.8), (2, 0.8)]));
        Assert.Equal("6,134 474,134", flat.Find("polyline").GetAttribute("points"));
        var empty = Render<LineChart>(p => p.Add(c => c.Title, "auc").Add(c => c.Points, Array.Empty<(double, double)>()));
        Assert.Empty(empty.FindAll("polyline"));
    }

    [Fact]
    public void MonitoringShowsWindowsDisparitiesWithIntervalsImportanceAndAlerts()
    {
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var facts = new MonitoringFacts(
            [
                new DriftWindowFacts(start, start.AddHours(1), 500, 0, false, [], 100, 0.91),
                new DriftWindowFacts(start.AddHours(1), start.AddHours(2), 500, 0.5, true, ["income", "score"], 100, 0.74),
            ],
            [new DetectorFacts("PAGE_HINKLEY", "DRIFT", 1, start.AddHours(2))],
            [new FairnessFacts("f1", start, start, start.AddHours(1), 500, true, [new DisparityFacts("sex", "demographic_parity_difference", 0.12, 0.05, 0.19, 200)])],
            new ImportanceFacts("i1", start, 1000, [new FeatureFacts("income", "Income", 1, 0.4), new FeatureFacts("age", "", 2, 0.1)]),
            [new AttributionWindowFacts(start, start.AddHours(1), 500, true, 0.3, 0.67, true, "")],
            [new AlertFacts("DriftDetected", "warning", start.AddHours(2), null, "3 columns drifted")]);
        var cut = Render<MonitoringReport>(p => p.Add(c => c.Facts, facts));

        Assert.Equal(3, cut.FindAll("figure.chart").Count);
        var windows = cut.Find("table[aria-label='Drift windows']").QuerySelectorAll("tbody tr");
        Assert.Equal(2, windows.Length);
        Assert.Contains("50% (drifted)", windows[1].TextContent, StringComparison.Ordinal);
        Assert.Contains("income, score", windows[1].TextContent, StringComparison.Ordinal);
        Assert.Contains("PAGE_HINKLEY DRIFT (1 drifts)", cut.Markup, StringComparison.Ordinal);
        Assert.Contains("[0.05, 0.19]", cut.Find("table[aria-label='Disparities']").TextContent, StringComparison.Ordinal);
        Assert.Contains("outside the policy's limits", cut.Markup, StringComparison.Ordinal);
        var bars = cut.FindAll("table.importance .bar");
        Assert.Equal(["width:12rem", "width:3rem"], bars.Select(b => b.GetAttribute("style")));
        Assert.Contains("DriftDetected", cut.Find("ul.alerts").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void AVersionNothingWatchedSaysSo()
    {
        var cut = Render<MonitoringReport>(p => p.Add(c => c.Facts, new MonitoringFacts([], [], [], null, [], [])));
        Assert.Empty(cut.FindAll("figure.chart"));
        Assert.Contains("Drift has judged no window", cut.Markup, StringComparison.Ordinal);
        Assert.Contains("No fairness report", cut.Markup, StringComparison.Ordinal);
        Assert.Contains("raised no alert", cut.Markup, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("APPROVED", "success")]
    [InlineData("FAIL", "danger")]
    [InlineData("PENDING", "warning")]
    [InlineData("Archived", "informative")]
    public void ABadgeSaysItsStateInWordsAndInColour(string text, string colour)
    {
        var badge = Render<StateBadge>(p => p.Add(c => c.Text, text)).Find("fluent-badge");
        Assert.Equal(text, badge.TextContent.Trim());
        Assert.Equal(colour, badge.GetAttribute("color"));
    }

    [Fact]
    public void ADecisionCardShowsTheDecisionWhetherItIsReproducedAndItsReasonCodes()
    {
        var decision = new DecisionFacts("req-9", "4", new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero), 0.2, 0.35, 0.5, false, false, "tree_path_dependent",
            [new ReasonFacts(1, "income", "Income", "Declared monthly income", 5200, -0.8)], new Dictionary<string, string>(), "");
        var cut = Render<DecisionCard>(p => p.Add(c => c.Decision, decision));
        Assert.Equal(("req-9", "4"), (cut.Find("article").GetAttribute("data-decision"), cut.Find("article").GetAttribute("data-version")));
        Assert.Contains("negative: score 0.35 < threshold 0.5", cut.Find("dl").TextContent, StringComparison.Ordinal);
        Assert.Equal("FAIL", cut.Find("fluent-badge").TextContent.Trim());
        Assert.Equal(["1", "Income (income)", "Declared monthly income", "5200", "-0.8"], cut.FindAll("tbody td").Select(td => td.TextContent));

        var unexplained = Render<DecisionCard>(p => p.Add(c => c.Decision, decision with { Reasons = [], Unexplained = "no registered model made it" }));
        Assert.Contains("not explained: no registered model made it", unexplained.Markup, StringComparison.Ordinal);
        Assert.Empty(unexplained.FindAll("table"));
        var unlogged = Render<DecisionCard>(p => p.Add(c => c.Decision, decision with { LoggedPrediction = null }));
        Assert.Contains("nothing to compare: the serving system logged no score", unlogged.Markup, StringComparison.Ordinal);
        Assert.Empty(unlogged.FindAll("fluent-badge"));
    }
}
