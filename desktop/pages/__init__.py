"""The pages of the main window, in the order of the journey."""

from desktop.pages.compare import ComparePage
from desktop.pages.export import ExportPage
from desktop.pages.home import HomePage
from desktop.pages.model import ModelPage
from desktop.pages.prompts import PromptsPage
from desktop.pages.rate import RatePage
from desktop.pages.reward import RewardPage
from desktop.pages.train import TrainPage
from desktop.pages.try_page import TryPage

PAGES = [
    ("home", "Home", HomePage),
    ("model", "1  Model", ModelPage),
    ("prompts", "2  Prompts", PromptsPage),
    ("rate", "3  Rate", RatePage),
    ("reward", "4  Reward model", RewardPage),
    ("train", "5  Train", TrainPage),
    ("compare", "6  Compare", ComparePage),
    ("export", "7  Export", ExportPage),
    ("try", "Try", TryPage),  # not a step: ask the base model any time, a tuned run beside it once there is one
]
