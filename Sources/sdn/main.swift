import SDNCLI

SDNCommand.main()
