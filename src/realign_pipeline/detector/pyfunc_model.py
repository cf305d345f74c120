"""MLflow "model from code" entry: builds the detector pyfunc (no pickled Python object).

MLflow executes this file when loading the model logged by `log_detector_model`.
"""

import mlflow

from realign_pipeline.detector.pyfunc import DetectorPyfunc

mlflow.models.set_model(DetectorPyfunc())
