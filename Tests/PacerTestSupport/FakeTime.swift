/// libfaketime (Debian's `faketime`), for a process whose wall clock a test or benchmark steps while it runs:
/// the process follows an offset written in a file, and its monotonic and boot-time clocks stay true.
public enum FakeTime {
    public static let library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

    /// The program to run the process through: `faketime -m` sets up libfaketime for a threaded program; without
    /// `FAKETIME` in its environment the program then follows `FAKETIME_TIMESTAMP_FILE`. (Preloading the library
    /// by hand instead loses a Swift program's arguments.)
    public static let followingTheFile = ["/usr/bin/faketime", "-m", "-f", "+0s", "/usr/bin/env", "-u", "FAKETIME"]

    /// The environment that makes it follow `file` (an offset such as `+2s`), re-read once a second.
    public static func following(_ file: String) -> [String: String] {
        ["FAKETIME_TIMESTAMP_FILE": file, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_CACHE_DURATION": "1"]
    }
}
