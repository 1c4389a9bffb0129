import Crypto
import Foundation
import PacerCore

/// Encodings shared by the signers.
enum Wire {
    /// RFC 3986 percent-encoding of everything but unreserved characters. Used for query and form values, so a
    /// `+` in a Kookeey signature arrives as `+` and not as a space.
    static func percentEncode(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    static func query(_ pairs: [(key: String, value: String)]) -> String {
        pairs.map { "\(percentEncode($0.key))=\(percentEncode($0.value))" }.joined(separator: "&")
    }

    /// Pairs sorted by key in byte order (not locale order), as Bitunix and Bit-Z sign them.
    static func sortedByKey(_ pairs: [(key: String, value: String)]) -> [(key: String, value: String)] {
        pairs.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func base64<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 { Data(bytes).base64EncodedString() }

    static func hmacSHA256(key: String, _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }

    static func hmacSHA1(key: String, _ message: String) -> [UInt8] {
        Array(HMAC<Insecure.SHA1>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }

    static func sha256Hex(_ message: String) -> String { hex(SHA256.hash(data: Data(message.utf8))) }

    static func md5Hex(_ message: String) -> String { hex(Insecure.MD5.hash(data: Data(message.utf8))) }

    /// `base` + `path` (+ `?query`), where `base` may carry a path prefix (a proxy) that the signature ignores.
    static func url(base: String, path: String, query: String) -> String {
        base + path + (query.isEmpty ? "" : "?" + query)
    }
}

/// Reading provider envelopes, which are all JSON objects with a code, a message and a payload.
enum Envelope {
    static func parse(_ body: [UInt8]) -> JSONValueBox? {
        (try? JSONValue(parsing: body)).map(JSONValueBox.init)
    }
}

/// A parsed envelope with typed accessors for the fields providers use.
struct JSONValueBox {
    let value: JSONValue

    func text(_ key: String) -> String? {
        switch value[key] {
        case .string(let s)?: return s
        case .number(let n)?: return n
        case .bool(let b)?: return b ? "true" : "false"
        default: return nil
        }
    }

    func int(_ key: String) -> Int? { text(key).flatMap { Int($0) } }
    func bool(_ key: String) -> Bool? { if case .bool(let b)? = value[key] { return b } else { return nil } }
    /// The member's value as compact JSON text (numbers and member order exactly as sent).
    func json(_ key: String) -> String? {
        guard let v = value[key] else { return nil }
        if case .null = v { return nil }
        return v.compactText
    }
}
