import PacerCore
import PacerEmulator

/// What `pacer demo` runs when no `--jobs` folder is given: built into the binary, so the demo works from any
/// folder (and from the static binary). About twenty seconds of work on four accounts at the providers'
/// published limits, so every limit binds; the emulator refuses a few Kookeey calls (cool-downs) and loses a few
/// answers to KuCoin orders that carry a key (each is looked up by its key instead of being placed twice).
enum DemoScenario {
    /// The emulator: the demo accounts, with faults of their own drawn from fixed seeds (the same every run).
    static var emulator: EmulatorConfig {
        var config = EmulatorConfig.demo
        for index in config.accounts.indices {
            switch config.accounts[index].provider {
            case .kookeey:
                var faults = FaultSettings()
                faults.seed = 11
                faults.rateLimit = 0.03
                config.accounts[index].faults = faults
            case .kucoin:
                var faults = FaultSettings()
                faults.seed = 5
                faults.lostResponse = 0.1
                config.accounts[index].faults = faults
            default: break
            }
        }
        return config
    }

    /// The job files, written to the demo's folder and queued like any user's.
    static let jobs: [(file: String, text: String)] = [
        ("kookeey-inventory.yaml", """
            # Poll the stock of 160 proxy groups at Kookeey's 10 requests a second (16 s). The emulator refuses a
            # few of them as over the limit (code 60001): each refusal cools the account down, then it resumes.
            name: kookeey-inventory
            account: kookeey-main
            request:
              method: GET
              path: /stock
              params:
                g: "{{item}}"
            items:
              range: 1..160
            idempotent: true
            """),
        ("kucoin-place-orders.yaml", """
            # Place 40 limit orders on KuCoin, each with its own key in clientOid. The emulator loses a few answers
            # after placing the order: Pacer looks each one up by its key instead of placing it twice.
            name: kucoin-place-orders
            account: kucoin-main
            request:
              method: POST
              path: /api/v1/orders
              params:
                clientOid: "{{key}}"
                symbol: BTC-USDT
                side: buy
                type: limit
                price: "3{{item}}000"
                size: "0.001"
            items:
              range: 1..40
            idempotent: false
            retry:
              attempts: 6
              backoff: 200ms..2s
            """),
        ("bitunix-batch-cancel.yaml", """
            # Cancel 1,500 Bitunix orders, 20 ids a call, at 10 calls a second (75 calls, 7.5 s).
            name: bitunix-batch-cancel
            account: bitunix-main
            request:
              method: POST
              path: /api/v1/futures/trade/cancel_orders
              params:
                symbol: BTCUSDT
                orderIdList: "{{batch}}"
            items:
              range: 1100000000..1100001499
            batch:
              size: 20
            idempotent: true
            """),
        ("bitz-bulk-cancel.yaml", """
            # Cancel 45,000 Bit-Z orders, 100 ids a call, at 30 calls a second (450 calls, 15 s).
            name: bitz-bulk-cancel
            account: bitz-main
            request:
              method: POST
              path: /Trade/cancelAllEntrustSheet
              params:
                ids: "{{batch}}"
            items:
              range: 2019000000..2019044999
            batch:
              size: 100
              join: ","
            idempotent: true
            """),
    ]
}
