/// `{{key}}`: a per-call key the provider deduplicates on (KuCoin `clientOid`, Kookeey `orderno`, Bitunix
/// `clientId`).
///
/// Keys are random rather than derived from the run and index: a database rebuilt from scratch numbers its runs
/// from 1 again, and a derived key would then collide with an order the provider already holds from the old
/// database, which the provider would answer "duplicate" although this order was never placed. 24 characters of
/// lowercase letters and digits carry 124 random bits; lowercase only, in case a provider compares keys without
/// regard to case. The store's unique index refuses the (astronomically unlikely) collision.
public enum CallKey {
    public static let length = 24
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> String {
        String(decoding: (0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] },
               as: UTF8.self)
    }

    /// The job-file contract (docs/jobs.md): at most 32 characters of `[A-Za-z0-9-]`.
    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 32 && key.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-")
        }
    }
}
