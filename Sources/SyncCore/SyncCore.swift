public enum SyncCoreVersion { public static let string = "0.1.0" }
