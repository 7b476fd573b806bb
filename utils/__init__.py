"""The course book's helpers, one topic per module; importing does nothing but define functions.

    data        Fashion-MNIST as whole tensors, batches made on the device
    training    fit (the visible loop), train_epoch, one_cycle, weight inits
    evaluation  metrics, measure/evaluate, probabilities, predict
    summary     parameter and multiply-add tables
    plotting    curves, image grids, filters, feature maps, confusion matrices
    receptive   receptive fields, analytic and from gradients
    repro       seeds, runs over seeds, the scale switch, the run stamp
    report      final line, glue for the prose, d2l's published figures, verdicts
    results     the book's results read back from the stored outputs
    models      every network the book trains
    canvas      composed scenes: garments on photos, with boxes and masks
    segmentation  transposed-conv upsampling, FCN, pixel accuracy and mIoU
    detection   boxes, anchors, IoU, NMS, mAP, a small SSD
    go          GNU Go self-play over GTP, AlphaGo's feature planes and policy network
    speech      spoken digits from espeak-ng, log-mel spectrograms, a small 2D CNN
    text        word lists in six languages, a character CNN with max-over-time pooling
    weights     a chapter's trained model saved with its stamp, loaded by later chapters

    import utils
    train_iter, test_iter = utils.fashion_mnist(batch_size=256, device="cpu")
    history = utils.fit(net, train_iter, test_iter, epochs=10, lr=0.9, device="cpu")
"""
from .data import (CLASSES, Batches, DataFileError, Split, data_dir, fashion_mnist,
                   load_fashion_mnist, online, text_labels)
from . import augment, canvas, detection, explorer, go, models, report, segmentation, speech, text
from .evaluation import correct, evaluate, measure, predict, probabilities
from .plotting import (compare_histories, confusion_matrix, feature_maps, plot_confusion_matrix,
                       plot_history, plot_seed_bars, show_feature_maps, show_filters,
                       show_images, show_layer_maps, show_misclassified,
                       show_mistakes_and_confusion, show_receptive_field,
                       show_receptive_fields, top_channels)
from .receptive import (analytic_box, empirical_receptive_field, format_receptive_fields,
                        gradient_map, receptive_fields)
from .report import (PUBLISHED, final_line, glue, pm, print_report, published_best, results_table,
                     verdict)
from .results import book_results
from .repro import (current_scale, default_device, describe_run, over_seeds, pick, run_stamp,
                    set_seed, spread)
from .summary import count_macs, count_params, format_table, layer_table, summary
from .training import DivergedError, fit, kaiming_init, one_cycle, train_epoch, xavier_init
from .weights import load_or_train, load_weights, save_weights

__version__ = "0.2.0"
