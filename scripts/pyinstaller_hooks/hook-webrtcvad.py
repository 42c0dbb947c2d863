# The PyPI wheel is the `webrtcvad-wheels` distribution; the contributed hook looks for the
# metadata of `webrtcvad` and fails. Ours takes precedence (hookspath in wirexa.spec).
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
