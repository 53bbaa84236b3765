from train.reader.build import main

main()
