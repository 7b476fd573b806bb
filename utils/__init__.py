"""The course book's helpers: data, training, model inspection, pictures, receptive fields,
reproducibility. One topic per module; importing does nothing but define functions.

    import utils
    train_iter, test_iter = utils.fashion_mnist(batch_size=256, device="cpu")
    history = utils.fit(net, train_iter, test_iter, epochs=10, lr=0.9, device="cpu")
"""
from .data import (CLASSES, Batches, Split, data_dir, fashion_mnist, load_fashion_mnist, online,
                   text_labels)
from . import augment, explorer, models
from .plotting import (compare_histories, confusion_matrix, feature_maps, plot_confusion_matrix,
                       plot_history, show_feature_maps, show_filters, show_images,
                       show_misclassified, show_receptive_field)
from .receptive import (analytic_box, empirical_receptive_field, format_receptive_fields,
                        gradient_map, receptive_fields)
from .results import book_results
from .repro import (current_scale, default_device, describe_run, pick, run_stamp, set_seed)
from .summary import count_macs, count_params, format_table, layer_table, summary
from .training import (evaluate, final_line, fit, kaiming_init, predict, probabilities,
                       xavier_init)

__version__ = "0.1.0"
