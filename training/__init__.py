"""Training side: load MNIST, build and train the Keras tutorial network, save and report."""
