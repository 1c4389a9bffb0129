import CSV
import Foundation

/// Produces a job's items one at a time, whatever their source, so that no source is ever loaded whole.
struct ItemReader {
    private enum Cursor {
        case list(IndexingIterator<[String]>, position: Int)
        case range(current: Int, upper: Int, done: Bool)
        case lines(LineReader)
        case csv(CSVReader, column: Int?, row: Int)
    }

    private var cursor: Cursor
    /// CSV header name -> field position; empty for other sources.
    let columns: [String: Int]
    /// Errors inside an items file name that file; the job file is named when the source is inline.
    private let itemsPath: String

    /// Opens the source; for files this checks readability and, for CSV, the header and the requested columns.
    init(_ spec: ItemsSpec, jobFile: String, columnsUsed: [String]) throws(JobFileError) {
        switch spec.source {
        case .list(let values):
            itemsPath = jobFile
            cursor = .list(values.makeIterator(), position: 0)
            columns = [:]
        case .range(let r):
            itemsPath = jobFile
            cursor = .range(current: r.lowerBound, upper: r.upperBound, done: false)
            columns = [:]
        case .file(let path, .lines):
            itemsPath = path
            do { cursor = .lines(try LineReader(path: path)) } catch {
                throw JobFileError(file: jobFile, line: spec.line, column: spec.column, field: "items.file",
                                   message: "cannot read items file '\(path)'")
            }
            columns = [:]
        case .file(let path, .csv(let column)):
            itemsPath = path
            guard let stream = InputStream(fileAtPath: path),
                  let reader = try? CSVReader(stream: stream, hasHeaderRow: true),
                  let header = reader.headerRow
            else {
                throw JobFileError(file: jobFile, line: spec.line, column: spec.column, field: "items.file",
                                   message: "cannot read a CSV header row from '\(path)'")
            }
            var map: [String: Int] = [:]
            for (i, name) in header.enumerated() where map[name] == nil { map[name] = i }
            for name in columnsUsed + (column.map { [$0] } ?? []) where map[name] == nil {
                throw JobFileError(file: jobFile, line: spec.line, column: spec.column, field: "items.column",
                                   message: "no column '\(name)' in the header of '\(path)'; it has \(header.joined(separator: ", "))")
            }
            columns = map
            cursor = .csv(reader, column: column.flatMap { map[$0] }, row: 1)
        }
    }

    mutating func next() throws(JobFileError) -> Item? {
        switch cursor {
        case .list(var it, let position):
            defer { cursor = .list(it, position: position + 1) }
            return it.next().map { Item(text: $0, line: position + 1) }
        case .range(let current, let upper, let done):
            guard !done else { return nil }
            cursor = current == upper ? .range(current: current, upper: upper, done: true)
                                      : .range(current: current + 1, upper: upper, done: false)
            return Item(text: String(current), line: current)
        case .lines(var reader):
            defer { cursor = .lines(reader) }
            while true {
                let line: String?
                do { line = try reader.next() } catch let e as LineReader.InvalidUTF8 {
                    throw JobFileError(file: itemsPath, line: e.line, column: 1, field: "items.file",
                                       message: "line is not valid UTF-8")
                } catch let e as LineReader.LineTooLong {
                    throw JobFileError(file: itemsPath, line: e.line, column: 1, field: "items.file",
                                       message: "line is longer than \(LineReader.maxLineBytes) bytes: expected one item "
                                           + "per line")
                } catch {
                    throw JobFileError(file: itemsPath, line: reader.lineNumber, column: 1, field: "items.file",
                                       message: "read failed: \(error)")
                }
                guard let line else { return nil }
                let trimmed = line.trimmingSpacesAndTabs()
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                return Item(text: trimmed, line: reader.lineNumber)
            }
        case .csv(let reader, let column, let row):
            guard let fields = reader.next() else {
                // CSV.swift reports the end of its stream as an error too; only a decoding failure is one.
                if let error = reader.error as? CSVError, case .unicodeDecoding = error {
                    throw JobFileError(file: itemsPath, line: row + 1, column: 1, field: "items.file",
                                       message: "not valid UTF-8")
                }
                return nil
            }
            cursor = .csv(reader, column: column, row: row + 1)
            let needed = (columns.values.max() ?? 0) + 1
            guard fields.count >= min(needed, reader.headerRow?.count ?? needed) else {
                throw JobFileError(file: itemsPath, line: row + 1, column: 1, field: "items.file",
                                   message: "row has \(fields.count) fields, the header has \(reader.headerRow?.count ?? 0)")
            }
            return Item(text: column.map { $0 < fields.count ? fields[$0] : "" } ?? "", fields: fields, line: row + 1)
        }
    }

}


extension String {
    /// Trims spaces and tabs at both ends; the common case (nothing to trim) costs two byte checks, which matters
    /// for million-line items files.
    func trimmingSpacesAndTabs() -> String {
        let bytes = utf8
        func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        guard let first = bytes.first, let last = bytes.last, isBlank(first) || isBlank(last) else { return self }
        var s = Substring(self)
        while let f = s.utf8.first, isBlank(f) { s = s.dropFirst() }
        while let l = s.utf8.last, isBlank(l) { s = s.dropLast() }
        return String(s)
    }
}
