import Foundation

/// Reads a file line by line through a fixed-size buffer, so a million-line items file costs one buffer of memory,
/// not the whole file. Accepts `\n` and `\r\n` endings; the last line need not end with a newline. Each byte is
/// searched once, and a line longer than `maxLineBytes` is an error (`LineTooLong`), not a hang.
struct LineReader {
    /// No item is this long; a file with such a line is not an items file (or lost its newlines).
    static let maxLineBytes = 1 << 20

    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes after `start` already searched for a newline.
    private var scanned = 0
    private var atEOF = false
    private let chunkSize: Int
    /// 1-based number of the line most recently returned.
    private(set) var lineNumber = 0

    init(path: String, chunkSize: Int = 256 * 1024) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        self.handle = handle
        self.chunkSize = chunkSize
    }

    /// The next line without its ending, or `nil` at the end of the file. Invalid UTF-8 is an error.
    mutating func next() throws -> String? {
        while true {
            if let nl = buffer[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = nl
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                guard end - start <= Self.maxLineBytes else { throw LineTooLong(line: lineNumber + 1) }
                let line = try decode(buffer[start..<end])
                start = nl + 1
                scanned = 0
                return line
            }
            scanned = buffer.count - start
            // One byte over: a `\r` whose `\n` is in the next chunk belongs to the line's ending.
            guard scanned <= Self.maxLineBytes + 1 else { throw LineTooLong(line: lineNumber + 1) }
            if atEOF {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = try decode(buffer[start..<end])
                start = buffer.count
                scanned = 0
                return line
            }
            // Keep the unfinished tail, then read more.
            buffer.removeSubrange(0..<start)
            start = 0
            let chunk = try handle.read(upToCount: chunkSize) ?? Data()
            if chunk.isEmpty { atEOF = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    private mutating func decode(_ bytes: ArraySlice<UInt8>) throws -> String {
        lineNumber += 1
        guard let s = String(validating: bytes, as: UTF8.self) else { throw InvalidUTF8(line: lineNumber) }
        return s
    }

    struct InvalidUTF8: Error { let line: Int }
    struct LineTooLong: Error { let line: Int }
}
