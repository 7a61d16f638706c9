print("sdnd: not yet")
