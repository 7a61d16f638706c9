import SDNCLI

@main
struct SDNMain {
    static func main() async {
        await SDNCommand.runFromCommandLine()
    }
}
