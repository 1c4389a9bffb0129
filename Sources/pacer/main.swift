print("pacer")
