/// The four APIs Pacer speaks. Signing and code tables live in the providers module; this enum holds only the
/// facts that the rest of Pacer needs without knowing any provider's details.
public enum Provider: String, Sendable, CaseIterable, Codable {
    case kookeey
    case kucoin
    case bitunix
    case bitz

    /// Where a call's `params` go for this provider and HTTP method.
    public func paramPlacement(for method: HTTPMethod) -> ParamPlacement {
        switch (self, method) {
        case (.kookeey, _): return .query                    // every Kookeey call is a signed GET
        case (.kucoin, .post), (.kucoin, .put): return .jsonBody
        case (.bitunix, .post), (.bitunix, .put): return .jsonBody
        case (.bitz, .post), (.bitz, .put): return .formBody // Bit-Z private calls are form-encoded POSTs
        default: return .query
        }
    }
}

public enum ParamPlacement: String, Sendable {
    case query
    case jsonBody
    case formBody
}

public enum HTTPMethod: String, Sendable, CaseIterable, Codable {
    case get = "GET"
    case post = "POST"
    case delete = "DELETE"
    case put = "PUT"
}
