using ModelOps.Drift.Detectors;

namespace ModelOps.Drift.Domain;

/// <summary>Where a detector stands in its episodes: whether one is open, values since its last signal or warning, episodes so far.</summary>
public readonly record struct Episode(bool Open, long Quiet, long Count);

/// <summary>
/// Groups a detector's signals into episodes, so that one change of the world is announced once. Detectors that start
/// over after a drift can signal one change more than once (a ramp, or a change ADWIN cuts in steps); an episode opens
/// with a signal, which is announced, and stays open until <see cref="QuietValues"/> values in a row have brought
/// neither a signal nor a warning. Signals inside an open episode are counted, not announced.
/// </summary>
public static class DriftEpisodes
{
    /// <summary>Values in a row without a signal or a warning that close an episode.</summary>
    public const long QuietValues = 1000;

    /// <summary>The episode after the detector said <paramref name="state"/>, and whether that opened one (to announce).</summary>
    public static (Episode Next, bool Opened) Feed(Episode episode, DetectorState state) => state switch
    {
        DetectorState.Drift when !episode.Open => (new Episode(true, 0, episode.Count + 1), true),
        DetectorState.Drift or DetectorState.Warning => (episode with { Quiet = 0 }, false),
        _ when episode.Open && episode.Quiet + 1 >= QuietValues => (new Episode(false, 0, episode.Count), false),
        _ when episode.Open => (episode with { Quiet = episode.Quiet + 1 }, false),
        _ => (episode, false),
    };
}
