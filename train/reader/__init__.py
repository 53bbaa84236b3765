"""The reader: trained from ../shared/data/train, fine-tuned on the shared SQuAD dev half, fitted
and written into index/data (``python -m train.reader``; its stages in ``build``).

One home each: ``data`` (mining question/sentence pairs), ``model`` (the network and its
training loop), ``export`` (int8 ONNX and back), ``fit`` (combination and answerability on its
readings), ``files`` (the reader files written), ``answerability`` (the shipped answerability
fit), ``folds`` (out-of-fold readers), ``squad`` (SQuAD fine-tuning) and ``build`` (the stages).
"""
