/// The parts of an account a provider can refuse, as `pacer account test` reports them.
public enum AccountPart: String, Sendable, CaseIterable {
    case key, secret, passphrase, clock, address, broker
    /// The account itself (disabled, frozen, inactive).
    case account

    /// What a refusal of this part asks the user to fix.
    public var advice: String {
        switch self {
        case .key: return "the API key is unknown or not allowed to do this"
        case .secret: return "the signature was refused: check the secret"
        case .passphrase: return "the passphrase was refused (it is sent signed with the secret: check both)"
        case .clock: return "the request's time was refused: check this host's clock (NTP)"
        case .address: return "this host's IP address is not on the key's whitelist"
        case .broker: return "the broker attribution (partner, broker name or key) was refused"
        case .account: return "the account is disabled or frozen"
        }
    }
}
