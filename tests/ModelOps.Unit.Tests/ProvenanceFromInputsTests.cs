extern alias tracking;
using Google.Protobuf.WellKnownTypes;
using tracking::ModelOps.Tracking.Domain;
using tracking::ModelOps.Tracking.V1;

namespace ModelOps.Unit.Tests.Tracking;

/// <summary>A run's logged datasets are its data's provenance: the fields they all carry are not reported missing.</summary>
public sealed class ProvenanceFromInputsTests
{
    private static readonly string[] DataFields = ["dataset_id", "dataset_hash", "dataset_snapshot_at", "feature_groups", "data_time_range"];

    [Fact]
    public void DatasetsLoggedAsInputsFillTheDataFieldsWhenEveryOneCarriesThem()
    {
        var snapshot = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero));
        var range = new TimeRange { Start = Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)), End = snapshot };
        var training = new DatasetInput { DatasetId = "applicants", Hash = "sha256:ab12", SnapshotAt = snapshot, FeatureGroups = { "bureau" }, TimeRange = range, Context = "training" };
        var run = new Run { RunId = new string('a', 32), Provenance = new Provenance(), StartTime = snapshot };

        // Nothing logged: every data field is missing.
        Assert.Equal(DataFields, ProvenanceReports.Report(run, DataFields).Missing);

        run.Inputs.Add(training);
        var report = ProvenanceReports.Report(run, DataFields);
        Assert.Empty(report.Missing);
        Assert.Subset(report.Present.ToHashSet(), DataFields.ToHashSet());

        // A second dataset without a snapshot or a time range leaves the data unpinned: those two are missing again.
        run.Inputs.Add(new DatasetInput { DatasetId = "holdout", Hash = "sha256:cd34", FeatureGroups = { "bureau" }, Context = "validation" });
        Assert.Equal(["dataset_snapshot_at", "data_time_range"], ProvenanceReports.Report(run, DataFields).Missing);

        // ... unless the provenance record itself names them.
        run.Provenance.DatasetSnapshotAt = snapshot;
        run.Provenance.DataTimeRange = range;
        Assert.Empty(ProvenanceReports.Report(run, DataFields).Missing);
    }
}
