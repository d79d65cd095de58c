/// When two digests may be compared (replication-model §4): pure, so the
/// rule is tested without sockets.
public enum DigestComparison {
    /// Whether the peer's `report` (answering a request sent when our highest
    /// seq was `askedAt`) and our `local` digest point describe the same changes.
    ///
    /// - The peer had merged everything we had when we asked (`caughtUp`).
    /// - Nothing was committed here since we asked (`local.highestSeq == askedAt`):
    ///   a local write after the question is in our digest, not in theirs.
    /// - We have merged everything the peer had when it answered.
    public static func comparable(askedAt: UInt64, report: SyncMessage.DigestReport, local: Store.DigestPoint) -> Bool {
        report.caughtUp && local.highestSeq == askedAt && local.cursor >= report.highestSeq
            && report.buckets.count == StateDigest.bucketCount
    }
}
